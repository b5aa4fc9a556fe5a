"""Overlapping drops -> one row per finished job (DESIGN.md: "every finished job appears exactly once").

A long job is in every daily drop of its life, a re-collection repeats a day, a
backfill replays history: ``dedupe_jobs`` keeps one row per
(cluster, job_id_raw, submit_time). The row from the table with the highest rank
wins; ties (same rank, different values) go to the largest row in a fixed
column order, so the result depends neither on the order of the tables nor on
how often a table is repeated.
"""

import numpy as np
import pyarrow as pa

from slurm_assets.sacct import units
from slurm_assets.sacct.fields import JOBS_SCHEMA

KEY = ("cluster", "job_id_raw", "submit_time")


def dedupe_jobs(tables: list[pa.Table], ranks: list[tuple]) -> pa.Table:
    """One row per job key out of ``tables`` (JOBS_SCHEMA), the row of the highest-ranked table winning.

    ``ranks[i]`` ranks ``tables[i]`` (e.g. ``(collected_at, drop_id)``); ranks must be
    mutually comparable. The result is sorted by end_time and key. Raises ValueError
    when the two lists differ in length.
    """
    return dedupe_job_groups([(tables, ranks)])[0]


def dedupe_job_groups(
    groups: list[tuple[list[pa.Table], list[tuple]]],
    threads: int | None = None,
    fallbacks: list[list[bool]] | None = None,
) -> list[pa.Table]:
    """``dedupe_jobs`` of each ``(tables, ranks)`` group, computed in one DuckDB pass (groups never mix).

    Item i equals ``dedupe_jobs(*groups[i])``; the pipeline passes one group per
    (cluster, day) so that a run's days cost one query, not one per day.
    ``fallbacks[i][k]`` marks table k of group i as a fallback (the seed agent's JSON, whose array
    tasks carry a stand-in JobIDRaw): its rows are dropped where a non-fallback table has a row of the
    same cluster, JobID (as printed: ``22_5``) and submit time, so a job sent as JSON and later as sacct
    text counts once, with the text's values.
    """
    parts = []
    for g, (tables, ranks) in enumerate(groups):
        if len(tables) != len(ranks):
            raise ValueError(f"dedupe_jobs: {len(tables)} tables but {len(ranks)} ranks; give one rank per table")
        position = {rank: i for i, rank in enumerate(sorted(set(ranks)))}
        flags = fallbacks[g] if fallbacks else [False] * len(tables)
        for table, rank, fallback in zip(tables, ranks, flags, strict=True):
            table = table.select(JOBS_SCHEMA.names).cast(JOBS_SCHEMA)
            n = len(table)
            table = table.append_column("_rank", pa.array(np.full(n, position[rank], dtype=np.int64)))
            table = table.append_column("_fb", pa.array(np.full(n, fallback, dtype=bool)))
            parts.append(table.append_column("_grp", pa.array(np.full(n, g, dtype=np.int64))))
    if not any(len(p) for p in parts):
        return [JOBS_SCHEMA.empty_table() for _ in groups]
    combined = pa.concat_tables(parts)
    key = ", ".join(f'"{k}"' for k in KEY)
    tie_break = ", ".join(f'"{c}" DESC NULLS LAST' for c in JOBS_SCHEMA.names if c not in KEY)
    con = units.connect(threads)
    try:
        con.register("t", combined)
        out = con.execute(
            f"""
            SELECT * EXCLUDE (_rank, _rn, _fb, _all_fb) FROM (
                SELECT *, row_number() OVER (PARTITION BY _grp, {key} ORDER BY _rank DESC, {tie_break}) AS _rn
                FROM (SELECT *, bool_and(_fb) OVER (PARTITION BY _grp, cluster, job_id, submit_time) AS _all_fb
                      FROM t)
                WHERE NOT _fb OR _all_fb
            ) WHERE _rn = 1
            ORDER BY _grp, end_time NULLS LAST, {key}
            """
        ).to_arrow_table()
    finally:
        con.close()
    bounds = np.searchsorted(out["_grp"].to_numpy(), np.arange(len(groups) + 1))
    out = out.select(JOBS_SCHEMA.names).cast(JOBS_SCHEMA)
    return [out.slice(bounds[g], bounds[g + 1] - bounds[g]) for g in range(len(groups))]
