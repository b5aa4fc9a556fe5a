"""Job-level queries (Queue, Efficiency, Jobs table): jobs that ENDED in the date range, aggregated in SQL.

Wait = start - eligible (jobs that never started have no wait and are left out
of wait statistics). Wasted CPU-hours of a job = max(alloc_cpus x elapsed -
TotalCPU, 0) / 3600, over jobs whose TotalCPU is known.

Aggregates come from ``job_summary`` (in memory). Lists of single jobs read
``jobs`` files, but only those that can hold the rows shown: the newest-first Jobs
table reads the latest days that together hold the page (counts per day); the
most wasteful jobs read the (cluster, day)s whose summary rows have a largest
job >= L, L being the N-th largest such row maximum (N rows each hold a job
>= L, so the first N jobs are all >= L). Exact, and a page reads a few files
instead of a year of them. Other sorts and a text search read every file of the
range (pruned by day only), and so does a GPU-type filter (job_summary has no GPU
type: the job lists match it on each job's ``gpu_types``).
"""

import pandas as pd

from slurm_assets.sacct import summary
from slurm_assets.sacct.fields import JOBS_SCHEMA
from slurm_assets.storage import paths
from slurm_assets.storage.dashboard_store import jobs_select
from streamlit_app.data.core import Filters, period, query, read_root, scalar_row, stream_csv, where
from streamlit_app.data.scope import people_condition
from streamlit_app.data.metrics import METRICS

_CPU, _MEM = METRICS["cpu_efficiency"], METRICS["mem_efficiency"]
WASTED_CPU_HOURS = summary.WASTED_CPU_HOURS
# Sort -> job_summary column holding the largest value of that sort key among a row's jobs.
ROW_MAX = {"wasted_cpu_hours": "max_wasted_cpu_hours"}
# job_summary: jobs that started (have a wait), and their total wait.
STARTED = "sum(jobs) FILTER (WHERE wait_bucket IS NOT NULL)"
# Wait bucket code from which a job waited 1 h or more (sacct/summary.py BUCKETS: 60, 600, 3600, ...).
WAIT_1H_BUCKET = summary.BUCKETS["wait_bucket"][1].index(3600) + 1
JOB_STATES_OF_INTEREST = ("FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL")
SEARCH_COLUMNS = ("job_id", "name", "user", "account", "partition", "node_list")
_JOB_COLUMNS = ", ".join(f'"{name}"' for name in JOBS_SCHEMA.names)
SORTS = {
    "end_time": "end_time DESC NULLS LAST",
    "cpu_hours": "cpu_hours DESC NULLS LAST",
    "wait_s": "wait_s DESC NULLS LAST",
    "submit_time": "submit_time DESC NULLS LAST",
}


def wait_stats(f: Filters, by_partition: bool = True) -> pd.DataFrame:
    """Per period (and partition), over jobs that started: jobs, mean wait (h), share (%) that waited >= 1 h.

    Exact from job_summary (sums and the fixed wait buckets); wait percentiles are not (not sums).
    """
    cond, params = where(f, date_col="date", state=True)
    part = ", partition" if by_partition else ""
    return query(
        f"""SELECT {period(f.grain, "date")} AS period{part}, {STARTED} AS jobs,
                   sum(wait_s_sum) / {STARTED} / 3600.0 AS mean_wait_h,
                   coalesce(sum(jobs) FILTER (WHERE wait_bucket >= {WAIT_1H_BUCKET}), 0) * 100.0
                       / {STARTED} AS waited_1h_pct
            FROM job_summary WHERE {cond} GROUP BY ALL HAVING {STARTED} > 0 ORDER BY ALL""",
        params,
    )


def state_rates(f: Filters) -> pd.DataFrame:
    """Per period and state: jobs and their share (%) of the period's jobs."""
    cond, params = where(f, date_col="date", state=True)
    return query(
        f"""SELECT period, state, jobs, jobs * 100.0 / sum(jobs) OVER (PARTITION BY period) AS share_pct
            FROM (SELECT {period(f.grain, "date")} AS period, coalesce(state, '(none)') AS state,
                         sum(jobs) AS jobs
                  FROM job_summary WHERE {cond} GROUP BY 1, 2)
            ORDER BY 1, 2""",
        params,
    )


def running_now(f: Filters) -> pd.DataFrame:
    """The latest running/pending snapshot per cluster: jobs and CPUs per state."""
    cond, params = _cluster_only(f, people=True)
    return query(
        f"""SELECT cluster, state, count(*) AS jobs, sum(alloc_cpus) AS cpus, sum(alloc_gpus) AS gpus,
                   max(snapshot_time) AS snapshot_time
            FROM running_jobs WHERE {cond} GROUP BY 1, 2 ORDER BY 1, 2""",
        params,
    )


def _cluster_only(f: Filters, *, people: bool) -> tuple[str, tuple]:
    """The cluster filter (and, for a table of people's jobs, the viewer's scope) without a date range."""
    cond, params = people_condition(f.scope) if people else ("true", ())
    params = tuple(tuple(p) if isinstance(p, list) else p for p in params)
    if not f.clusters:
        return cond, params
    return f"{cond} AND list_contains(?::VARCHAR[], cluster)", (*params, tuple(f.clusters))


def efficiency_summary(f: Filters) -> dict:
    """Overall CPU and memory efficiency (%), allocated, used and wasted CPU-hours."""
    cond, params = where(f, date_col="date", state=True)
    return scalar_row(
        f"""SELECT coalesce(sum(jobs), 0) AS jobs, coalesce(sum(cpu_known_jobs), 0) AS jobs_with_cpu_data,
                   sum({_CPU.num["jobs"]}) * 100.0 / nullif(sum({_CPU.den}), 0) AS cpu_efficiency_pct,
                   sum({_MEM.num["jobs"]}) * 100.0 / nullif(sum({_MEM.den}), 0) AS mem_efficiency_pct,
                   coalesce(sum(cpu_hours), 0) AS cpu_hours,
                   coalesce({summary.SUMMARY_TOTAL_CPU_S}, 0) / 3600.0 AS used_cpu_hours,
                   coalesce(sum(wasted_cpu_hours), 0) AS wasted_cpu_hours
            FROM job_summary WHERE {cond}""",
        params,
    )


def efficiency_by(
    f: Filters, entity: str, *, min_jobs: int = 1, order: str = "wasted_cpu_hours", limit: int = 50
) -> pd.DataFrame:
    """Per user or account: jobs, CPU-hours, CPU/memory efficiency (%) and wasted CPU-hours."""
    if entity not in ("user", "account"):
        raise ValueError(f"efficiency by {entity!r}: expected 'user' or 'account'")
    if order not in ("wasted_cpu_hours", "cpu_efficiency_pct", "mem_efficiency_pct", "cpu_hours"):
        raise ValueError(f"efficiency order {order!r} is not a column of the table")
    direction = "ASC" if order.endswith("_pct") else "DESC"
    cond, params = where(f, date_col="date", state=True)
    return query(
        f"""SELECT "{entity}", sum(jobs) AS jobs, sum(cpu_hours) AS cpu_hours,
                   {summary.SUMMARY_TOTAL_CPU_S} / 3600.0 AS used_cpu_hours,
                   sum({_CPU.num["jobs"]}) * 100.0 / nullif(sum({_CPU.den}), 0) AS cpu_efficiency_pct,
                   sum({_MEM.num["jobs"]}) * 100.0 / nullif(sum({_MEM.den}), 0) AS mem_efficiency_pct,
                   coalesce(sum(wasted_cpu_hours), 0) AS wasted_cpu_hours
            FROM job_summary WHERE {cond} GROUP BY 1 HAVING sum(jobs) >= ?
            ORDER BY {order} {direction} NULLS LAST, 1 LIMIT {int(limit)}""",
        params + (int(min_jobs),),
    )


def wasteful_jobs(f: Filters, limit: int = 25) -> pd.DataFrame:
    """The single jobs with the most wasted CPU-hours."""
    cond, params = where(f, date_col="end_date", state=True)
    return query(
        f"""SELECT cluster, job_id, "user", account, partition, state, alloc_cpus, elapsed_s / 3600.0 AS elapsed_h,
                   cpu_hours, cpu_efficiency * 100 AS cpu_efficiency_pct, mem_efficiency * 100 AS mem_efficiency_pct,
                   {WASTED_CPU_HOURS} AS wasted_cpu_hours
            FROM {_jobs_for_top(f, "wasted_cpu_hours", limit)} WHERE {cond} AND total_cpu_s IS NOT NULL
            ORDER BY wasted_cpu_hours DESC, cluster, job_id_raw LIMIT {int(limit)}""",
        params,
    )


def _search(f: Filters, search: str) -> tuple[str, tuple]:
    cond, params = where(f, date_col="end_date", state=True)
    term = (search or "").strip().lower()
    if term:
        ors = " OR ".join(f"contains(lower(coalesce(\"{c}\", '')), ?)" for c in SEARCH_COLUMNS)
        cond += f" AND ({ors})"
        params += (term,) * len(SEARCH_COLUMNS)
    return cond, params


def jobs_count(f: Filters, search: str = "") -> int:
    if not (search or "").strip() and not f.gpu_types:
        cond, params = where(f, date_col="date", state=True)
        return int(scalar_row(f"SELECT coalesce(sum(jobs), 0) AS n FROM job_summary WHERE {cond}", params)["n"])
    cond, params = _search(f, search)
    return int(scalar_row(f"SELECT count(*) AS n FROM jobs WHERE {cond}", params)["n"])


def _jobs_for_top(f: Filters, key: str, n: int) -> str:
    """FROM clause over the jobs files that hold the first ``n`` jobs by ``key`` (descending) under ``f``.

    All files when fewer than ``n`` summary rows have a value of ``key`` (then the NULLs may be needed), or
    under a GPU-type filter (the summary cannot tell which of its jobs match it).
    """
    if f.gpu_types:
        return "jobs"
    cond, params = where(f, date_col="date", state=True)
    if key == "end_time":  # the first n by end time lie in the latest days that together hold n jobs
        row = scalar_row(
            f"""WITH per AS (SELECT "date" AS d, sum(jobs) AS n FROM job_summary WHERE {cond} GROUP BY 1)
                             SELECT max(d) AS m FROM (SELECT d, sum(n) OVER (ORDER BY d DESC) AS upto FROM per)
                             WHERE upto >= ?""",
            params + (int(n),),
        )
        if row.get("m") is None:
            return "jobs"
        days = query(
            f"""SELECT DISTINCT cluster, strftime("date", '%Y-%m-%d') AS day FROM job_summary
                         WHERE {cond} AND "date" >= ?""",
            params + (row["m"],),
        )
        return f"({jobs_select(read_root(), list(zip(days['cluster'], days['day'])))}) AS jobs"
    if key not in ROW_MAX:
        return "jobs"
    col = ROW_MAX[key]
    row = scalar_row(
        f"SELECT {col} AS m FROM job_summary WHERE {cond} AND {col} IS NOT NULL"
        f" ORDER BY {col} DESC LIMIT 1 OFFSET {int(n) - 1}",
        params,
    )
    if row.get("m") is None:
        return "jobs"
    days = query(
        f"""SELECT DISTINCT cluster, strftime("date", '%Y-%m-%d') AS day FROM job_summary
                     WHERE {cond} AND {col} >= ?""",
        params + (row["m"],),
    )
    return f"({jobs_select(read_root(), list(zip(days['cluster'], days['day'])))}) AS jobs"


def jobs_page(
    f: Filters, search: str = "", *, page: int = 1, page_size: int = 100, sort: str = "end_time"
) -> pd.DataFrame:
    """One page (1-based) of the jobs that match the filters and the search text, all columns."""
    if sort not in SORTS:
        raise ValueError(f"jobs sort {sort!r}: expected one of {sorted(SORTS)}")
    cond, params = _search(f, search)
    offset = max(page - 1, 0) * page_size
    source = "jobs" if (search or "").strip() else _jobs_for_top(f, sort, offset + page_size)
    return query(
        f"SELECT {_JOB_COLUMNS} FROM {source} WHERE {cond} ORDER BY {SORTS[sort]}, cluster, job_id_raw, submit_time"
        f" LIMIT {int(page_size)} OFFSET {int(offset)}",
        params,
    )


def jobs_csv(f: Filters, search: str = "", sort: str = "end_time"):
    """Every job that matches the filters, the search text and the viewer's scope as CSV (all columns, in the
    table's order), written in record batches: the Jobs page's full export, made only when clicked."""
    if sort not in SORTS:
        raise ValueError(f"jobs sort {sort!r}: expected one of {sorted(SORTS)}")
    cond, params = _search(f, search)
    return stream_csv(
        f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {cond} ORDER BY {SORTS[sort]}, cluster, job_id_raw, submit_time", params
    )


def job_record(f: Filters, cluster: str, job_id_raw: str, end_day: str | None = None) -> pd.DataFrame:
    """One job's rows (a requeued job id can have several, keyed by submit time): every jobs column.

    Only within the viewer's scope (``f.scope``): a link to another user's job finds nothing. With its
    end day, only that (cluster, day) file is read; without, every jobs file (pruned by cluster).
    """
    source = "jobs"  # bad names or days raise ValueError (paths.check_*) before any SQL
    if end_day and paths.partition_file(read_root(), "jobs", cluster, end_day).exists():
        source = f"({jobs_select(read_root(), [(cluster, end_day)])}) AS jobs"
    people, params = people_condition(f.scope)
    return query(
        f"SELECT {_JOB_COLUMNS} FROM {source} WHERE cluster = ? AND job_id_raw = ? AND {people} ORDER BY submit_time",
        (cluster, job_id_raw) + params,
    )
