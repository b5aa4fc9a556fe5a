"""Overlapping drops -> one row per finished job (DESIGN.md: "every finished job appears exactly once").

A long job is in every daily drop of its life, a re-collection repeats a day, a
backfill replays history: ``dedupe_jobs`` keeps one row per
(cluster, job_id_raw, submit_time). The row from the table with the highest rank
wins; ties (same rank, different values) go to the largest row in a fixed
column order, so the result depends neither on the order of the tables nor on
how often a table is repeated.
"""

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
    if len(tables) != len(ranks):
        raise ValueError(f"dedupe_jobs: {len(tables)} tables but {len(ranks)} ranks; give one rank per table")
    if not tables:
        return JOBS_SCHEMA.empty_table()
    position = {rank: i for i, rank in enumerate(sorted(set(ranks)))}
    parts = []
    for table, rank in zip(tables, ranks):
        table = table.select(JOBS_SCHEMA.names).cast(JOBS_SCHEMA)
        parts.append(table.append_column("_rank", pa.array([position[rank]] * len(table), pa.int64())))
    combined = pa.concat_tables(parts)
    key = ", ".join(f'"{k}"' for k in KEY)
    tie_break = ", ".join(f'"{c}" DESC NULLS LAST' for c in JOBS_SCHEMA.names if c not in KEY)
    con = units.connect()
    try:
        con.register("t", combined)
        out = con.execute(
            f"""
            SELECT * EXCLUDE (_rank, _rn) FROM (
                SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY _rank DESC, {tie_break}) AS _rn FROM t
            ) WHERE _rn = 1
            ORDER BY end_time NULLS LAST, {key}
            """
        ).to_arrow_table()
    finally:
        con.close()
    return out.select(JOBS_SCHEMA.names).cast(JOBS_SCHEMA)
