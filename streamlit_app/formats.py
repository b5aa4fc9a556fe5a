"""Human column headers and number formats for every table the dashboard shows (and counts as integers in CSV).

The frames keep their column keys (CSV headers, tests and links rely on them);
only what a reader sees changes: a header from ``HEADERS`` (else the key in
words), thousands separators, decimals by the kind of number, counts as whole
numbers, and an empty cell as a dash instead of ``None``.
"""

import re

import pandas as pd

NA = "–"
HEADERS = {
    "period": "Period (UTC)",
    "cluster": "Cluster",
    "account": "Account",
    "user": "User",
    "partition": "Partition",
    "qos": "QoS",
    "state": "State",
    "gpu_type": "GPU type",
    "series": "Cluster / partition",
    "cpu_hours": "CPU-hours",
    "gpu_hours": "GPU-hours",
    "node_hours": "Node-hours",
    "jobs": "Jobs",
    "used_cpu_hours": "Used CPU-hours",
    "wasted_cpu_hours": "Wasted CPU-hours",
    "cpu_efficiency_pct": "CPU efficiency (%)",
    "mem_efficiency_pct": "Memory efficiency (%)",
    "cpu_efficiency": "CPU efficiency (%)",
    "mem_efficiency": "Memory efficiency (%)",
    "cpu_share_pct": "CPU share (%)",
    "gpu_share_pct": "GPU share (%)",
    "share_pct": "Share (%)",
    "mean_wait_h": "Mean wait (h)",
    "waited_1h_pct": "Waited >= 1 h (%)",
    "wait_hours": "Wait hours",
    "mean_job_size": "Mean job size (CPUs)",
    "cpu_hours_used": "CPU-hours used",
    "cpu_hours_available": "CPU-hours available",
    "cpu_util_pct": "CPU utilization (%)",
    "gpu_hours_used": "GPU-hours used",
    "gpu_hours_available": "GPU-hours available",
    "gpu_util_pct": "GPU utilization (%)",
    "job_id": "Job ID",
    "job_id_raw": "Job ID (raw)",
    "array_job_id": "Array job",
    "array_task_id": "Array task",
    "name": "Name",
    "exit_code": "Exit code",
    "submit_time": "Submitted (UTC)",
    "eligible_time": "Eligible (UTC)",
    "start_time": "Started (UTC)",
    "end_time": "Ended (UTC)",
    "end_date": "End day",
    "elapsed_s": "Elapsed (s)",
    "elapsed_h": "Elapsed (h)",
    "timelimit_s": "Time limit (s)",
    "wait_s": "Wait (s)",
    "nodes": "Nodes",
    "node_list": "Node list",
    "alloc_cpus": "CPUs",
    "req_mem_bytes": "Requested memory (bytes)",
    "alloc_gpus": "GPUs",
    "gpu_types": "GPU types",
    "max_rss_bytes": "Max RSS (bytes)",
    "total_cpu_s": "Total CPU (s)",
    "cpus": "CPUs",
    "gpus": "GPUs",
    "snapshot_time": "Snapshot (UTC)",
    "last_drop_collected_at": "Last drop collected (UTC)",
    "last_day_materialized": "Last day materialized",
    "first_day": "First day",
    "days_materialized": "Days materialized",
    "missing_days": "Missing days",
    "drops": "Drops",
    "last_usage_day": "Last usage day",
    "quarantined_rows": "Quarantined rows",
    "running_snapshot": "Running snapshot (UTC)",
    "age_h": "Age (h)",
    "gap_start": "Gap from",
    "gap_end": "Gap to",
    "days": "Days",
    "reason": "Reason",
    "rows": "Rows",
    "last_day": "Last day",
    "date": "Day",
    "drop_id": "Drop",
    "line_no": "Line",
    "detail": "Detail",
    "raw_line": "Raw line",
    "gpu_jobs": "GPU jobs",
    "value": "Value",
}
# Columns that count things: whole numbers on screen and in CSV (DuckDB's sum of integers arrives as float).
COUNT_RE = re.compile(r"(^|_)(jobs|rows|days|drops|cpus|gpus|nodes|line_no|alloc_cpus|alloc_gpus)$")
COUNT_COLUMNS = {"missing_days", "days_materialized", "quarantined_rows", "exit_code"}
# Decimals by column: percentages and hours 1, mean waits 2; anything else with a fraction 2.
DECIMALS = (("_pct", 1), ("_h", 2), ("hours", 1), ("_available", 1), ("_used", 1), ("mean_job_size", 1))


def header(col: str) -> str:
    return HEADERS.get(col, col.replace("_", " ").capitalize())


def is_count(col: str) -> bool:
    return col in COUNT_COLUMNS or bool(COUNT_RE.search(col))


def with_counts(df: pd.DataFrame) -> pd.DataFrame:
    """Count columns as nullable integers (CSV then says ``7954``, not ``7954.0``)."""
    out = df.copy()
    for col in out.columns:
        if is_count(str(col)) and pd.api.types.is_float_dtype(out[col]):
            values = out[col].dropna()
            if (values == values.round()).all():
                out[col] = out[col].round().astype("Int64")
    return out


def decimals(col: str) -> int:
    for suffix, n in DECIMALS:
        if col.endswith(suffix):
            return n
    return 2


def number_format(col: str, series: pd.Series) -> str | None:
    """printf format with thousands separators (Streamlit's sprintf-js), or None for non-numbers."""
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return None
    if is_count(col) or pd.api.types.is_integer_dtype(series):
        return "%,d" if not col.endswith("_id") else "%d"
    return f"%,.{decimals(col)}f"


def styled(df: pd.DataFrame):
    """``df`` with empty cells shown as a dash (the numbers' formats come from the column config)."""
    text = [
        c
        for c in df.columns
        if not pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_datetime64_any_dtype(df[c])
    ]
    out = df.copy()
    for col in text:
        out[col] = out[col].astype(object).where(out[col].notna(), NA)
    return out
