"""Metric x dimension queries (Usage, Explorer, Overview, Utilization, Users & accounts, GPUs).

A metric is ``sum(num) / sum(den) * scale`` (``den`` absent = a plain sum), so a
ratio metric (efficiency, mean job size) stays exact when groups are merged
into "(other)". Definitions, shown on the pages too:

* CPU-hours = alloc_cpus x elapsed / 3600; GPU-hours and node-hours alike;
* wait hours = sum of (start - eligible) / 3600; mean wait = wait hours / jobs that started;
* mean job size = mean allocated CPUs per job;
* CPU efficiency = sum(TotalCPU) / sum(alloc_cpus x elapsed), over jobs with TotalCPU;
* memory efficiency = sum(MaxRSS) / sum(ReqMem), over jobs with both known.

Job-level figures come from ``job_summary`` (sacct/summary.py: per end day, the
jobs' counts and sums by cluster, user, account, partition, qos, state and the
fixed buckets below), never from a scan of ``jobs``: sums of sums, so exact.

The GPU-type filter applies where a GPU type is known: GPU-hours (read from
``gpu_usage_daily`` whenever it is set) and lists of jobs; CPU-hours, job counts,
waits and efficiency have no GPU type and cover every GPU type.
"""

import dataclasses

import pandas as pd

from slurm_assets.sacct import summary

from streamlit_app.data.core import (
    GPU_TYPE_LABEL,
    NONE_LABEL,
    OTHER,
    Filters,
    period,
    query,
    scalar_row,
    where,
)

USAGE_DIMS = ("cluster", "account", "user", "partition", "qos")


@dataclasses.dataclass(frozen=True)
class Source:
    table: str
    date_col: str
    dims: tuple[str, ...]
    state: bool  # whether the state filter applies
    gpu: bool = False  # whether the GPU-type filter applies (the table has gpu_type)


SOURCES = {
    "usage": Source("usage_daily", "date", USAGE_DIMS, False),
    "gpu": Source("gpu_usage_daily", "date", USAGE_DIMS + ("gpu_type",), False, gpu=True),
    "jobs": Source("job_summary", "date", USAGE_DIMS + ("state",), True),  # jobs by end day, pre-aggregated
}


@dataclasses.dataclass(frozen=True)
class Metric:
    label: str
    unit: str
    num: dict[str, str]  # source -> SQL expression summed (for "jobs": over job_summary rows)
    den: str | None = None  # jobs-source denominator expression (job_summary), summed
    scale: float = 1.0

    @property
    def title(self) -> str:
        """Axis title: "CPU-hours", "Mean job size (CPUs per job)" (the unit once, never "X (X)")."""
        return self.label if self.unit.lower() == self.label.lower() else f"{self.label} ({self.unit})"


METRICS = {
    "cpu_hours": Metric("CPU-hours", "CPU-hours", {"usage": "cpu_hours", "jobs": "cpu_hours"}),
    "gpu_hours": Metric("GPU-hours", "GPU-hours", {"usage": "gpu_hours", "jobs": "gpu_hours", "gpu": "gpu_hours"}),
    "node_hours": Metric("Node-hours", "node-hours", {"usage": "node_hours", "jobs": "node_hours"}),
    "jobs": Metric("Jobs", "jobs", {"usage": "jobs_ended", "jobs": "jobs"}),
    "wait_hours": Metric("Wait hours", "hours", {"jobs": "wait_s_sum / 3600.0"}),
    # over jobs that started (a wait bucket): the Overview KPI's mean wait, by any dimension
    "mean_wait_h": Metric(
        "Mean wait",
        "hours",
        {"jobs": "wait_s_sum / 3600.0"},
        den="CASE WHEN wait_bucket IS NOT NULL THEN jobs ELSE 0 END",
    ),
    "mean_job_size": Metric("Mean job size", "CPUs per job", {"jobs": "alloc_cpus_sum"}, den="jobs"),
    # over jobs whose TotalCPU is known and alloc_cpus x elapsed > 0 (sacct/summary.py CPU_KNOWN)
    "cpu_efficiency": Metric("CPU efficiency", "%", {"jobs": "cpu_used_s"}, den="cpu_alloc_s", scale=100.0),
    # over jobs with MaxRSS known and ReqMem > 0 (sacct/summary.py MEM_KNOWN)
    "mem_efficiency": Metric("Memory efficiency", "%", {"jobs": "mem_used_bytes"}, den="mem_req_bytes", scale=100.0),
}

# Job-level buckets: (label, job_summary bucket column, label of each bucket code 0..n); the bounds are
# sacct/summary.py BUCKETS (fixed when the summary is written).
BUCKETS = {
    "job_size": ("Job size (CPUs)", "size_bucket", ("1", "2-4", "5-16", "17-64", "65-256", "257+")),
    "node_count": ("Nodes per job", "nodes_bucket", ("1", "2", "3-4", "5-16", "17+")),
    "gpu_count": ("GPUs per job", "gpus_bucket", ("0", "1", "2", "3-4", "5-8", "9+")),
    "wall_time": (
        "Wall time",
        "wall_bucket",
        ("< 10 min", "10 min - 1 h", "1 - 6 h", "6 - 24 h", "1 - 3 days", ">= 3 days"),
    ),
    "wait_time": (
        "Wait time",
        "wait_bucket",
        ("< 1 min", "1 - 10 min", "10 min - 1 h", "1 - 6 h", "6 - 24 h", ">= 1 day"),
    ),
}
for _label, _col, _labels in BUCKETS.values():
    assert len(_labels) == len(summary.BUCKETS[_col][1]) + 1, f"bucket labels of {_col} do not match its bounds"
DIM_LABELS = {
    "none": "(all)",
    "cluster": "Cluster",
    "account": "Account",
    "user": "User",
    "partition": "Partition",
    "qos": "QoS",
    "state": "State",
    "gpu_type": "GPU type",
} | {k: v[0] for k, v in BUCKETS.items()}


def dim_exprs(dim: str) -> tuple[str, str | None]:
    """(label SQL, sort SQL or None) of a dimension; bucket dimensions sort by their raw value."""
    if dim == "none":
        return "'all'", None
    if dim in BUCKETS:
        _label, col, labels = BUCKETS[dim]
        cases = " ".join(f"WHEN {k} THEN '{lab}'" for k, lab in enumerate(labels))
        return f"CASE \"{col}\" {cases} ELSE 'unknown' END", f'"{col}"'
    if dim == "gpu_type":
        return GPU_TYPE_LABEL, None
    if dim in SOURCES["jobs"].dims:
        return f"coalesce(CAST(\"{dim}\" AS VARCHAR), '{NONE_LABEL}')", None
    raise ValueError(f"unknown dimension {dim!r}: expected one of {sorted(DIM_LABELS)}")


def explorer_source(metric: str, dim: str, f: Filters) -> str:
    """usage_daily (apportioned by day) when it can answer; GPU types from gpu_usage_daily; else jobs (by end day)."""
    if dim == "gpu_type":
        if "gpu" not in METRICS[metric].num:
            raise ValueError(f"{METRICS[metric].label} by GPU type: only GPU-hours have a GPU type")
        return "gpu"
    usage_ok = "usage" in METRICS[metric].num and (dim == "none" or dim in USAGE_DIMS) and not f.states
    return by_gpu_type("usage" if usage_ok else "jobs", metric, f)


def by_gpu_type(source: str, metric: str, f: Filters) -> str:
    """``source``, or gpu_usage_daily for GPU-hours from usage_daily when the GPU-type filter is set."""
    return "gpu" if f.gpu_types and source == "usage" and metric == "gpu_hours" else source


def breakdown(
    f: Filters, source: str, metric: str, dim: str, *, grain: str | None = None, top_n: int | None = None
) -> pd.DataFrame:
    """Columns [period], key, value: ``metric`` by ``dim`` (top-N keys, the rest as "(other)")."""
    source = by_gpu_type(source, metric, f)
    src, m = SOURCES[source], METRICS[metric]
    if source not in m.num:
        raise ValueError(f"metric {metric!r} is not available from {src.table}")
    if dim not in ("none", *src.dims) and not (source == "jobs" and dim in BUCKETS):
        raise ValueError(f"dimension {dim!r} is not available from {src.table}")
    cond, params = where(f, date_col=src.date_col, state=src.state, gpu=src.gpu)
    key, sort = dim_exprs(dim)
    per = period(grain, src.date_col) if grain else "CAST(NULL AS DATE)"
    den = f"sum({m.den})" if m.den else "CAST(NULL AS DOUBLE)"
    ranked = "sum(den)" if m.den else "sum(num)"
    top = (
        f"top AS (SELECT key FROM base GROUP BY key ORDER BY {ranked} DESC NULLS LAST, key LIMIT {int(top_n)}),"
        if top_n and sort is None
        else "top AS (SELECT DISTINCT key FROM base),"
    )
    value = "sum(num) / nullif(sum(den), 0)" if m.den else "sum(num)"
    sql = f"""
        WITH base AS (
            SELECT {per} AS period, {key} AS key, min({sort or "NULL"}) AS sortk,
                   sum({m.num[source]}) AS num, {den} AS den
            FROM {src.table} WHERE {cond} GROUP BY 1, 2),
        {top}
        merged AS (
            SELECT period, CASE WHEN key IN (SELECT key FROM top) THEN key ELSE '{OTHER}' END AS key,
                   min(sortk) AS sortk, {value} * {m.scale} AS value
            FROM base GROUP BY 1, 2)
        SELECT period, key, value FROM merged
        ORDER BY period NULLS FIRST, key = '{OTHER}', sortk NULLS LAST, value DESC NULLS LAST, key
    """
    df = query(sql, params)
    return df if grain else df.drop(columns="period")


def kpis(f: Filters) -> dict:
    """jobs, cpu_hours, gpu_hours, active_users, active_accounts, mean_wait_h for the period.

    The mean wait (over jobs that started) is exact from job_summary; a median is not (not a sum).
    """
    cond_u, p_u = where(f, date_col="date")
    cond_j, p_j = where(f, date_col="date", state=True)
    usage = scalar_row(
        "SELECT coalesce(sum(cpu_hours), 0) AS cpu_hours, coalesce(sum(gpu_hours), 0) AS gpu_hours,"
        ' count(DISTINCT "user") AS active_users, count(DISTINCT account) AS active_accounts'
        f" FROM usage_daily WHERE {cond_u}",
        p_u,
    )
    jobs = scalar_row(
        "SELECT coalesce(sum(jobs), 0) AS jobs,"
        " sum(wait_s_sum) / nullif(sum(jobs) FILTER (WHERE wait_bucket IS NOT NULL), 0) / 3600.0 AS mean_wait_h"
        f" FROM job_summary WHERE {cond_j}",
        p_j,
    )
    if f.gpu_types:  # GPU-hours of the chosen GPU types (usage_daily has no GPU type)
        cond_g, p_g = where(f, date_col="date", gpu=True)
        usage["gpu_hours"] = scalar_row(
            f"SELECT coalesce(sum(gpu_hours), 0) AS g FROM gpu_usage_daily WHERE {cond_g}", p_g
        )["g"]
    return usage | jobs


def _typed_gpu_hours(f: Filters, key: str) -> tuple[str, tuple, str]:
    """(CTE list ending in a comma, params, SQL of GPU-hours) per ``key``: gpu_usage_daily's GPU-hours of the
    filter's GPU types joined as ``g`` when that filter is set, else usage_daily's own (``u.u_gpu_hours``)."""
    if not f.gpu_types:
        return "", (), "u.u_gpu_hours"
    cond, params = where(f, date_col="date", gpu=True)
    cte = f"g AS (SELECT {key} AS key, sum(gpu_hours) AS g_hours FROM gpu_usage_daily WHERE {cond} GROUP BY 1),"
    return cte, params, "coalesce((SELECT g_hours FROM g WHERE g.key = u.key), 0)"


def usage_shares(f: Filters, dim: str) -> pd.DataFrame:
    """Per ``dim`` value: CPU/GPU/node-hours, jobs ended, and each value's share (%) of the total."""
    if dim not in USAGE_DIMS:
        raise ValueError(f"dimension {dim!r} is not in usage_daily: expected one of {USAGE_DIMS}")
    cond, params = where(f, date_col="date")
    key, _ = dim_exprs(dim)
    g_cte, p_g, gpu = _typed_gpu_hours(f, key)
    return query(
        f"""WITH {g_cte} u AS (
                SELECT {key} AS key, sum(cpu_hours) AS cpu_hours, sum(gpu_hours) AS u_gpu_hours,
                       sum(node_hours) AS node_hours, sum(jobs_ended) AS jobs
                FROM usage_daily WHERE {cond} GROUP BY 1),
            v AS (SELECT key, cpu_hours, {gpu} AS gpu_hours, node_hours, jobs FROM u)
            SELECT key, cpu_hours, cpu_hours * 100.0 / nullif(sum(cpu_hours) OVER (), 0) AS cpu_share_pct,
                   gpu_hours, gpu_hours * 100.0 / nullif(sum(gpu_hours) OVER (), 0) AS gpu_share_pct,
                   node_hours, jobs
            FROM v ORDER BY cpu_hours DESC, key""",
        p_g + params,
    )


def utilization(f: Filters, by: str = "partition") -> pd.DataFrame:
    """Used vs available CPU- and GPU-hours per period and cluster (or cluster/partition).

    Days whose capacity is slurmdbd's (no inventory: partition ``""``, the whole cluster) compare against
    the cluster's whole usage of those days: per partition they are one more row, partition ``""``.
    """
    if by not in ("cluster", "partition"):
        raise ValueError(f"utilization by {by!r}: expected 'cluster' or 'partition'")
    cond_u, p_u = where(f, date_col="date")
    cond_c, p_c = where(f, date_col="date", dims=("cluster", "partition"), people=False)  # hardware: no people
    part = ", partition" if by == "partition" else ""
    per = period(f.grain, "date")
    whole = (
        (
            "UNION ALL SELECT u.date, u.cluster, '' AS partition, sum(u.cpu) AS cpu, sum(u.gpu) AS gpu "
            "FROM used_p u JOIN whole USING (date, cluster) GROUP BY ALL"
        )
        if by == "partition"
        else ""
    )
    return query(
        f"""WITH used_p AS (
                SELECT date, cluster, partition, sum(cpu_hours) AS cpu, sum(gpu_hours) AS gpu
                FROM usage_daily WHERE {cond_u} GROUP BY ALL),
            cap_d AS (
                SELECT date, cluster, partition, cpu_hours_available, gpu_hours_available
                FROM capacity_daily WHERE {cond_c}),
            whole AS (SELECT DISTINCT date, cluster FROM cap_d WHERE partition = ''),
            used AS (
                SELECT {per} AS period, cluster{part}, sum(cpu) AS cpu_hours_used, sum(gpu) AS gpu_hours_used
                FROM (SELECT * FROM used_p {whole}) GROUP BY ALL),
            cap AS (
                SELECT {per} AS period, cluster{part}, sum(cpu_hours_available) AS cpu_hours_available,
                       sum(gpu_hours_available) AS gpu_hours_available
                FROM cap_d GROUP BY ALL)
            SELECT period, cluster{part}, coalesce(cpu_hours_used, 0) AS cpu_hours_used, cpu_hours_available,
                   coalesce(cpu_hours_used, 0) * 100.0 / nullif(cpu_hours_available, 0) AS cpu_util_pct,
                   coalesce(gpu_hours_used, 0) AS gpu_hours_used, gpu_hours_available,
                   coalesce(gpu_hours_used, 0) * 100.0 / nullif(gpu_hours_available, 0) AS gpu_util_pct
            FROM used FULL OUTER JOIN cap USING (period, cluster{part})
            ORDER BY period, cluster{part}""",
        p_u + p_c,
    )


def top_entities(f: Filters, entity: str, order: str = "cpu_hours", limit: int = 25) -> pd.DataFrame:
    """Top users or accounts: CPU/GPU-hours and jobs (usage_daily) with their efficiency (jobs)."""
    if entity not in ("user", "account") or order not in ("cpu_hours", "gpu_hours", "jobs"):
        raise ValueError(f"top_entities({entity!r}, {order!r}): entity user|account, order cpu_hours|gpu_hours|jobs")
    cond_u, p_u = where(f, date_col="date")
    cond_j, p_j = where(f, date_col="date", state=True)
    cpu, mem = METRICS["cpu_efficiency"], METRICS["mem_efficiency"]
    g_cte, p_g, gpu = _typed_gpu_hours(f, f'"{entity}"')
    return query(
        f"""WITH {g_cte} u AS (
                SELECT "{entity}" AS key, sum(cpu_hours) AS cpu_hours, sum(gpu_hours) AS u_gpu_hours,
                       sum(jobs_ended) AS jobs FROM usage_daily WHERE {cond_u} GROUP BY 1),
            e AS (
                SELECT "{entity}" AS key,
                       sum({cpu.num["jobs"]}) * 100.0 / nullif(sum({cpu.den}), 0) AS cpu_efficiency_pct,
                       sum({mem.num["jobs"]}) * 100.0 / nullif(sum({mem.den}), 0) AS mem_efficiency_pct
                FROM job_summary WHERE {cond_j} GROUP BY 1)
            SELECT u.key AS "{entity}", cpu_hours, {gpu} AS gpu_hours, jobs, cpu_efficiency_pct, mem_efficiency_pct
            FROM u LEFT JOIN e USING (key) ORDER BY {order} DESC, u.key LIMIT {int(limit)}""",
        p_g + p_u + p_j,
    )


def gpu_by_partition(f: Filters) -> pd.DataFrame:
    """GPU-hours per cluster, partition and GPU type, with each row's share of all GPU-hours."""
    cond, params = where(f, date_col="date", gpu=True)
    key, _ = dim_exprs("gpu_type")
    return query(
        f"""SELECT cluster, partition, {key} AS gpu_type, sum(gpu_hours) AS gpu_hours,
                   sum(gpu_hours) * 100.0 / nullif(sum(sum(gpu_hours)) OVER (), 0) AS share_pct
            FROM gpu_usage_daily WHERE {cond} GROUP BY 1, 2, 3 ORDER BY gpu_hours DESC, 1, 2, 3""",
        params,
    )


def gpu_job_share(f: Filters) -> dict:
    """GPU jobs (alloc_gpus > 0) among jobs that ended: counts, CPU-hours, GPU-hours and shares (%)."""
    cond, params = where(f, date_col="date", state=True)
    gpu = "gpus_bucket >= 1"  # alloc_gpus > 0 (bucket 0 = no GPU, NULL = unknown)
    return scalar_row(
        f"""SELECT coalesce(sum(jobs), 0) AS jobs, coalesce(sum(jobs) FILTER (WHERE {gpu}), 0) AS gpu_jobs,
                   coalesce(sum(jobs) FILTER (WHERE {gpu}), 0) * 100.0 / nullif(sum(jobs), 0) AS gpu_jobs_pct,
                   coalesce(sum(cpu_hours), 0) AS cpu_hours,
                   coalesce(sum(cpu_hours) FILTER (WHERE {gpu}), 0) AS gpu_jobs_cpu_hours,
                   sum(cpu_hours) FILTER (WHERE {gpu}) * 100.0 / nullif(sum(cpu_hours), 0)
                       AS gpu_jobs_cpu_pct,
                   coalesce(sum(gpu_hours), 0) AS gpu_hours
            FROM job_summary WHERE {cond}""",
        params,
    )
