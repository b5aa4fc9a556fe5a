"""Job-level queries (Queue, Efficiency, Jobs table): jobs that ENDED in the date range, aggregated in SQL.

Wait = start - eligible (jobs that never started have no wait and are left out
of wait statistics). Wasted CPU-hours of a job = max(alloc_cpus x elapsed -
TotalCPU, 0) / 3600, over jobs whose TotalCPU is known.
"""

import pandas as pd

from slurm_assets.sacct.fields import JOBS_SCHEMA
from streamlit_app.data.core import Filters, period, query, scalar_row, where
from streamlit_app.data.metrics import METRICS

_CPU, _MEM = METRICS["cpu_efficiency"], METRICS["mem_efficiency"]
WASTED_CPU_HOURS = "CASE WHEN total_cpu_s IS NOT NULL THEN greatest(alloc_cpus * elapsed_s - total_cpu_s, 0) / 3600.0 END"
JOB_STATES_OF_INTEREST = ("FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL")
SEARCH_COLUMNS = ("job_id", "name", "user", "account", "partition", "node_list")
_JOB_COLUMNS = ", ".join(f'"{name}"' for name in JOBS_SCHEMA.names)
SORTS = {
    "end_time": "end_time DESC NULLS LAST",
    "cpu_hours": "cpu_hours DESC NULLS LAST",
    "wait_s": "wait_s DESC NULLS LAST",
    "submit_time": "submit_time DESC NULLS LAST",
}


def wait_percentiles(f: Filters, by_partition: bool = True) -> pd.DataFrame:
    """Per period (and partition): jobs started and wait p50/p90/p99 in hours."""
    cond, params = where(f, date_col="end_date", state=True)
    part = ", partition" if by_partition else ""
    return query(
        f"""SELECT {period(f.grain, 'end_date')} AS period{part}, count(*) AS jobs,
                   quantile_cont(wait_s, 0.5) / 3600.0 AS wait_p50_h,
                   quantile_cont(wait_s, 0.9) / 3600.0 AS wait_p90_h,
                   quantile_cont(wait_s, 0.99) / 3600.0 AS wait_p99_h
            FROM jobs WHERE {cond} AND wait_s IS NOT NULL GROUP BY ALL ORDER BY ALL""",
        params,
    )


def state_rates(f: Filters) -> pd.DataFrame:
    """Per period and state: jobs and their share (%) of the period's jobs."""
    cond, params = where(f, date_col="end_date", state=True)
    return query(
        f"""SELECT period, state, jobs, jobs * 100.0 / sum(jobs) OVER (PARTITION BY period) AS share_pct
            FROM (SELECT {period(f.grain, 'end_date')} AS period, coalesce(state, '(none)') AS state,
                         count(*) AS jobs
                  FROM jobs WHERE {cond} GROUP BY 1, 2)
            ORDER BY 1, 2""",
        params,
    )


def running_now(f: Filters) -> pd.DataFrame:
    """The latest running/pending snapshot per cluster: jobs and CPUs per state."""
    cond, params = _cluster_only(f)
    return query(
        f"""SELECT cluster, state, count(*) AS jobs, sum(alloc_cpus) AS cpus, sum(alloc_gpus) AS gpus,
                   max(snapshot_time) AS snapshot_time
            FROM running_jobs WHERE {cond} GROUP BY 1, 2 ORDER BY 1, 2""",
        params,
    )


def _cluster_only(f: Filters) -> tuple[str, tuple]:
    if not f.clusters:
        return "true", ()
    return "list_contains(?::VARCHAR[], cluster)", (tuple(f.clusters),)


def efficiency_summary(f: Filters) -> dict:
    """Overall CPU and memory efficiency (%), allocated, used and wasted CPU-hours."""
    cond, params = where(f, date_col="end_date", state=True)
    return scalar_row(
        f"""SELECT count(*) AS jobs, count(*) FILTER (WHERE {_CPU.num['jobs']} IS NOT NULL) AS jobs_with_cpu_data,
                   sum({_CPU.num['jobs']}) * 100.0 / nullif(sum({_CPU.den}), 0) AS cpu_efficiency_pct,
                   sum({_MEM.num['jobs']}) * 100.0 / nullif(sum({_MEM.den}), 0) AS mem_efficiency_pct,
                   coalesce(sum(cpu_hours), 0) AS cpu_hours,
                   coalesce(sum(total_cpu_s), 0) / 3600.0 AS used_cpu_hours,
                   coalesce(sum({WASTED_CPU_HOURS}), 0) AS wasted_cpu_hours
            FROM jobs WHERE {cond}""",
        params,
    )


def efficiency_by(f: Filters, entity: str, *, min_jobs: int = 1, order: str = "wasted_cpu_hours",
                  limit: int = 50) -> pd.DataFrame:
    """Per user or account: jobs, CPU-hours, CPU/memory efficiency (%) and wasted CPU-hours."""
    if entity not in ("user", "account"):
        raise ValueError(f"efficiency by {entity!r}: expected 'user' or 'account'")
    if order not in ("wasted_cpu_hours", "cpu_efficiency_pct", "mem_efficiency_pct", "cpu_hours"):
        raise ValueError(f"efficiency order {order!r} is not a column of the table")
    direction = "ASC" if order.endswith("_pct") else "DESC"
    cond, params = where(f, date_col="end_date", state=True)
    return query(
        f"""SELECT "{entity}", count(*) AS jobs, sum(cpu_hours) AS cpu_hours,
                   sum(total_cpu_s) / 3600.0 AS used_cpu_hours,
                   sum({_CPU.num['jobs']}) * 100.0 / nullif(sum({_CPU.den}), 0) AS cpu_efficiency_pct,
                   sum({_MEM.num['jobs']}) * 100.0 / nullif(sum({_MEM.den}), 0) AS mem_efficiency_pct,
                   coalesce(sum({WASTED_CPU_HOURS}), 0) AS wasted_cpu_hours
            FROM jobs WHERE {cond} GROUP BY 1 HAVING count(*) >= ?
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
            FROM jobs WHERE {cond} AND total_cpu_s IS NOT NULL
            ORDER BY wasted_cpu_hours DESC, cluster, job_id_raw LIMIT {int(limit)}""",
        params,
    )


def _search(f: Filters, search: str) -> tuple[str, tuple]:
    cond, params = where(f, date_col="end_date", state=True)
    term = (search or "").strip().lower()
    if term:
        ors = " OR ".join(f'contains(lower(coalesce("{c}", \'\')), ?)' for c in SEARCH_COLUMNS)
        cond += f" AND ({ors})"
        params += (term,) * len(SEARCH_COLUMNS)
    return cond, params


def jobs_count(f: Filters, search: str = "") -> int:
    cond, params = _search(f, search)
    return int(scalar_row(f"SELECT count(*) AS n FROM jobs WHERE {cond}", params)["n"])


def jobs_page(f: Filters, search: str = "", *, page: int = 1, page_size: int = 100,
              sort: str = "end_time") -> pd.DataFrame:
    """One page (1-based) of the jobs that match the filters and the search text, all columns."""
    if sort not in SORTS:
        raise ValueError(f"jobs sort {sort!r}: expected one of {sorted(SORTS)}")
    cond, params = _search(f, search)
    offset = max(page - 1, 0) * page_size
    return query(
        f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {cond} ORDER BY {SORTS[sort]}, cluster, job_id_raw, submit_time"
        f" LIMIT {int(page_size)} OFFSET {int(offset)}",
        params,
    )
