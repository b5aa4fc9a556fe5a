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


def dedupe_job_groups(groups: list[tuple[list[pa.Table], list[tuple]]], threads: int | None = None) -> list[pa.Table]:
    """``dedupe_jobs`` of each ``(tables, ranks)`` group, computed in one DuckDB pass (groups never mix).

    Item i equals ``dedupe_jobs(*groups[i])``; the pipeline passes one group per
    (cluster, day) so that a run's days cost one query, not one per day.
    """
    parts = []
    for g, (tables, ranks) in enumerate(groups):
        if len(tables) != len(ranks):
            raise ValueError(f"dedupe_jobs: {len(tables)} tables but {len(ranks)} ranks; give one rank per table")
        position = {rank: i for i, rank in enumerate(sorted(set(ranks)))}
        for table, rank in zip(tables, ranks):
            table = table.select(JOBS_SCHEMA.names).cast(JOBS_SCHEMA)
            n = len(table)
            table = table.append_column("_rank", pa.array(np.full(n, position[rank], dtype=np.int64)))
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
            SELECT * EXCLUDE (_rank, _rn) FROM (
                SELECT *, row_number() OVER (PARTITION BY _grp, {key} ORDER BY _rank DESC, {tie_break}) AS _rn
                FROM t
            ) WHERE _rn = 1
            ORDER BY _grp, end_time NULLS LAST, {key}
            """
        ).to_arrow_table()
    finally:
        con.close()
    bounds = np.searchsorted(out["_grp"].to_numpy(), np.arange(len(groups) + 1))
    out = out.select(JOBS_SCHEMA.names).cast(JOBS_SCHEMA)
    return [out.slice(bounds[g], bounds[g + 1] - bounds[g]) for g in range(len(groups))]
