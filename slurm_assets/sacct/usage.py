"""Finished jobs -> daily usage, apportioned to the UTC days each job ran (DESIGN.md ``usage_daily``).

A job's CPU-, GPU- and node-hours are split over the UTC days between its Start
and End in proportion to the seconds it ran in each day, so that the sum over
days equals the job's totals in ``jobs``. A job that never started (or whose
Start equals its End) puts everything on its end day. ``jobs_ended`` counts each
job once, on its end day. GPU-hours by GPU type split a job's GPU-hours over
the types of ``gpu_types`` by count; GPUs not covered by a typed entry are
type ``''`` (untyped).
"""

import numpy as np
import pyarrow as pa

from slurm_assets.sacct import units
from slurm_assets.sacct.fields import GPU_USAGE_DAILY_SCHEMA, USAGE_DAILY_SCHEMA

# _grp: which input table of a batch the row comes from (results are split back per table).
_DIMS = '_grp, cluster, "date", "user", account, "partition", qos'

# One row per (job, day it ran in) with the share of the job that falls in that day.
_JOB_DAYS = """
CREATE OR REPLACE TEMP TABLE job_days AS
WITH j AS (
    SELECT row_number() OVER () AS jid, _grp, cluster, "user", account, "partition", qos,
        coalesce(cpu_hours, 0) AS cpu_hours, coalesce(gpu_hours, 0) AS gpu_hours,
        coalesce(node_hours, 0) AS node_hours, coalesce(alloc_gpus, 0) AS alloc_gpus, gpu_types,
        CAST(end_time AS TIMESTAMP) AS e,
        CAST(least(coalesce(start_time, end_time), end_time) AS TIMESTAMP) AS s
    FROM jobs WHERE end_time IS NOT NULL
), d AS (
    SELECT *, CAST(s AS DATE) + CAST(unnest(range(0, date_diff('day', CAST(s AS DATE), CAST(e AS DATE)) + 1)) AS INTEGER)
        AS "date"
    FROM j
)
SELECT *,
    CASE WHEN e > s THEN
        date_diff('microsecond', greatest(s, CAST("date" AS TIMESTAMP)),
                  least(e, CAST("date" + 1 AS TIMESTAMP))) / CAST(date_diff('microsecond', s, e) AS DOUBLE)
    ELSE CASE WHEN "date" = CAST(e AS DATE) THEN 1.0 ELSE 0.0 END END AS share,
    "date" = CAST(e AS DATE) AS ended
FROM d
"""

_USAGE = f"""
SELECT {_DIMS},
    sum(cpu_hours * share) AS cpu_hours,
    sum(gpu_hours * share) AS gpu_hours,
    sum(node_hours * share) AS node_hours,
    CAST(count(*) FILTER (ended) AS BIGINT) AS jobs_ended
FROM job_days
GROUP BY ALL
HAVING sum(share) > 0 OR count(*) FILTER (ended) > 0
ORDER BY ALL
"""

# Typed GPU entries ('a100:2') plus the untyped remainder; each type's weight = its GPU count.
_GPU_USAGE = f"""
WITH typed AS (
    SELECT jid, split_part(t, ':', 1) AS gpu_type, TRY_CAST(split_part(t, ':', 2) AS BIGINT) AS n
    FROM (SELECT jid, unnest(string_split(nullif(gpu_types, ''), ',')) AS t
          FROM (SELECT DISTINCT jid, gpu_types FROM job_days WHERE gpu_hours > 0))
), untyped AS (
    SELECT j.jid, '' AS gpu_type, j.alloc_gpus - coalesce(sum(t.n), 0) AS n
    FROM (SELECT DISTINCT jid, alloc_gpus FROM job_days WHERE gpu_hours > 0) j
    LEFT JOIN typed t USING (jid)
    GROUP BY j.jid, j.alloc_gpus
), w AS (
    SELECT jid, gpu_type, n FROM typed WHERE n > 0
    UNION ALL SELECT jid, gpu_type, n FROM untyped WHERE n > 0
), ws AS (
    SELECT jid, gpu_type, n / CAST(sum(n) OVER (PARTITION BY jid) AS DOUBLE) AS weight FROM w
)
SELECT {_DIMS}, gpu_type, sum(gpu_hours * share * weight) AS gpu_hours
FROM job_days JOIN ws USING (jid)
WHERE share > 0
GROUP BY ALL
ORDER BY ALL
"""


def apportion_usage(jobs: pa.Table) -> tuple[pa.Table, pa.Table]:
    """``jobs`` (JOBS_SCHEMA) -> (usage_daily rows, gpu_usage_daily rows); hours in the UTC day they happened.

    Jobs without an End are ignored (they are not finished). NULL hours count as 0.
    """
    return apportion_usage_groups([jobs])[0]


def apportion_usage_groups(tables: list[pa.Table], threads: int | None = None) -> list[tuple[pa.Table, pa.Table]]:
    """``apportion_usage`` of each table, in one DuckDB pass (rows of different tables are never summed together).

    The pipeline passes one table per (cluster, partition day) of a run.
    """
    parts = [t.append_column("_grp", pa.array(np.full(len(t), g, dtype=np.int64))) for g, t in enumerate(tables)]
    if not parts:
        return []
    con = units.connect(threads)
    try:
        con.register("jobs", pa.concat_tables(parts, promote_options="permissive"))
        con.execute(_JOB_DAYS)
        usage = con.execute(_USAGE).to_arrow_table()
        gpu = con.execute(_GPU_USAGE).to_arrow_table()
    finally:
        con.close()
    out = []
    ub = np.searchsorted(usage["_grp"].to_numpy(), np.arange(len(tables) + 1))
    gb = np.searchsorted(gpu["_grp"].to_numpy(), np.arange(len(tables) + 1))
    usage = usage.select(USAGE_DAILY_SCHEMA.names).cast(USAGE_DAILY_SCHEMA)
    gpu = gpu.select(GPU_USAGE_DAILY_SCHEMA.names).cast(GPU_USAGE_DAILY_SCHEMA)
    for g in range(len(tables)):
        out.append((usage.slice(ub[g], ub[g + 1] - ub[g]), gpu.slice(gb[g], gb[g + 1] - gb[g])))
    return out
