"""Finished jobs -> ``job_summary``: exact counts and sums per end day and page dimension (issue 7).

One row per (cluster, end day, user, account, partition, qos, state, size bucket,
nodes bucket, GPUs bucket, wall-time bucket, wait bucket) with the number of jobs
and the sums every job-level dashboard figure is made of, so the dashboard answers
counts, sums, ratios of sums and histograms over the fixed buckets of BUCKETS
without scanning ``jobs``: summing any subset of summary rows equals the same
aggregate over the jobs it covers. Quantiles are NOT derivable from it.

``max_wasted_cpu_hours`` (the row's largest single job) and ``jobs`` per day let
the dashboard find which days hold the top-N jobs of the most-wasteful list and of
the newest-first Jobs table before it opens any ``jobs`` file. Columns are kept
few: at 10M jobs the summary has ~0.8 rows per job (most groups hold one job), and
it is held in the dashboard's memory.

Written by the same step as ``jobs`` (``pipeline/day_step.py``), one file per (cluster,
end day) next to it; the bucket bounds are part of the table's meaning: changing
them needs the summary rebuilt.
"""

import pyarrow as pa
import pyarrow.compute as pc

from slurm_assets.sacct import units
from slurm_assets.sacct.fields import JOB_SUMMARY_SCHEMA

# bucket column -> (jobs column, upper bounds, inclusive). Code k = the value is <= (inclusive) or < (exclusive)
# bounds[k] and above bounds[k-1]; code len(bounds) = above the last bound; NULL = the value is unknown.
BUCKETS: dict[str, tuple[str, tuple[int, ...], bool]] = {
    "size_bucket": ("alloc_cpus", (1, 4, 16, 64, 256), True),
    "nodes_bucket": ("nodes", (1, 2, 4, 16), True),
    "gpus_bucket": ("alloc_gpus", (0, 1, 2, 4, 8), True),
    "wall_bucket": ("elapsed_s", (600, 3600, 6 * 3600, 86400, 3 * 86400), False),
    "wait_bucket": ("wait_s", (60, 600, 3600, 6 * 3600, 86400), False),
}
DIMENSIONS = ("cluster", "date", "user", "account", "partition", "qos", "state", *BUCKETS)

# The dashboard's definitions (streamlit_app/data/metrics.py), per job.
CPU_KNOWN = "total_cpu_s IS NOT NULL AND alloc_cpus * elapsed_s > 0"
MEM_KNOWN = "max_rss_bytes IS NOT NULL AND req_mem_bytes > 0"
# Over job_summary rows: the sum of TotalCPU over all jobs where known (NULL if none), as sum(total_cpu_s) on jobs.
SUMMARY_TOTAL_CPU_S = (
    "sum(coalesce(cpu_used_s, 0) + coalesce(cpu_used_other_s, 0))"
    " FILTER (WHERE cpu_used_s IS NOT NULL OR cpu_used_other_s IS NOT NULL)"
)
WASTED_CPU_HOURS = (
    "CASE WHEN total_cpu_s IS NOT NULL THEN greatest(alloc_cpus * elapsed_s - total_cpu_s, 0) / 3600.0 END"
)


def bucket_sql(column: str, bounds: tuple[int, ...], inclusive: bool) -> str:
    """SQL giving a bucket code (TINYINT) of ``column``; NULL stays NULL."""
    op = "<=" if inclusive else "<"
    cases = " ".join(f'WHEN "{column}" {op} {b} THEN {k}' for k, b in enumerate(bounds))
    return f'CAST(CASE WHEN "{column}" IS NULL THEN NULL {cases} ELSE {len(bounds)} END AS TINYINT)'


_JOB_COLUMNS = (
    "cluster",
    "end_date",
    "user",
    "account",
    "partition",
    "qos",
    "state",
    "alloc_cpus",
    "nodes",
    "alloc_gpus",
    "elapsed_s",
    "wait_s",
    "cpu_hours",
    "gpu_hours",
    "node_hours",
    "total_cpu_s",
    "max_rss_bytes",
    "req_mem_bytes",
)
_BUCKET_SELECT = ", ".join(f"{bucket_sql(*spec)} AS {name}" for name, spec in BUCKETS.items())


def _saturated(total: str) -> str:
    """A BIGINT sum that stops at 2^63-1 instead of failing the run: the parser keeps every job inside
    ``limits.py``, but a day of hostile jobs at those limits could still add up past 64 bits."""
    return f"CAST(CASE WHEN {total} > 9223372036854775807 THEN 9223372036854775807 ELSE {total} END AS BIGINT)"


_SUMMARY = f"""
SELECT _grp, cluster, end_date AS "date", "user", account, "partition", qos, state, {_BUCKET_SELECT},
    count(*) AS jobs,
    sum(cpu_hours) AS cpu_hours, sum(gpu_hours) AS gpu_hours, sum(node_hours) AS node_hours,
    {_saturated("sum(alloc_cpus)")} AS alloc_cpus_sum,
    {_saturated("sum(wait_s)")} AS wait_s_sum,
    count(*) FILTER (WHERE {CPU_KNOWN}) AS cpu_known_jobs,
    sum(total_cpu_s) FILTER (WHERE {CPU_KNOWN}) AS cpu_used_s,
    {_saturated(f"sum(alloc_cpus * elapsed_s) FILTER (WHERE {CPU_KNOWN})")} AS cpu_alloc_s,
    sum(total_cpu_s) FILTER (WHERE NOT coalesce({CPU_KNOWN}, false)) AS cpu_used_other_s,
    {_saturated(f"sum(max_rss_bytes) FILTER (WHERE {MEM_KNOWN})")} AS mem_used_bytes,
    {_saturated(f"sum(req_mem_bytes) FILTER (WHERE {MEM_KNOWN})")} AS mem_req_bytes,
    sum({WASTED_CPU_HOURS}) AS wasted_cpu_hours,
    max({WASTED_CPU_HOURS}) AS max_wasted_cpu_hours
FROM jobs
GROUP BY ALL
ORDER BY _grp, {", ".join(f'"{c}" NULLS FIRST' for c in DIMENSIONS)}
"""


def job_summary(jobs: pa.Table) -> pa.Table:
    """``job_summary`` rows (JOB_SUMMARY_SCHEMA, sorted) of finished ``jobs`` (JOBS_SCHEMA), grouped by end day."""
    return job_summary_groups([jobs])[0]


def job_summary_groups(tables: list[pa.Table]) -> list[pa.Table]:
    """``job_summary`` of each table, in one DuckDB pass (a pipeline batch of cluster-days); same rows as one by one."""
    if not tables:
        return []
    names = JOB_SUMMARY_SCHEMA.names
    jobs = pa.concat_tables(
        [
            t.select([c for c in _JOB_COLUMNS]).append_column("_grp", pa.array([i] * t.num_rows, pa.int32()))
            for i, t in enumerate(tables)
        ]
    )
    con = units.connect()  # UTC, like every other DuckDB connection of the parser
    try:
        con.execute("SET threads = 1")  # a batch of small days: thread start-up costs more than it saves
        con.register("jobs", jobs)
        out = con.execute(_SUMMARY).arrow()
    finally:
        con.close()
    out = out.read_all() if isinstance(out, pa.RecordBatchReader) else out
    counts = pc.value_counts(out["_grp"]).to_pylist() if out.num_rows else []
    sizes = {c["values"]: c["counts"] for c in counts}
    result, offset = [], 0
    for i in range(len(tables)):  # rows are ordered by _grp
        n = sizes.get(i, 0)
        result.append(out.slice(offset, n).select(names).cast(JOB_SUMMARY_SCHEMA))
        offset += n
    return result
