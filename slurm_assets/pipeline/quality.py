"""Quality rules and per-cluster summaries over warehouse rows (the asset checks and metadata call these).

Each rule takes Arrow tables and returns ``{cluster: count}`` of offending rows,
so a check can pass or fail and still say which cluster is behind.
"""

import pyarrow as pa
import pyarrow.compute as pc


JOB_KEY = ["cluster", "job_id_raw", "submit_time"]
# Quarantine rows with line_no 0 stand for a whole drop, except these cross-checks between sources of one
# day (the drop's jobs were processed; the row says two sources disagree, e.g. inventory vs. slurmdbd).
CROSS_CHECK_REASONS = ("capacity_mismatch",)
# The same rule as SQL, for readers of the quarantine table (the dashboard's Data status page).
WHOLE_DROP_SQL = "line_no = 0 AND reason NOT IN (" + ", ".join(f"'{r}'" for r in CROSS_CHECK_REASONS) + ")"


def count_by_cluster(rows: pa.Table) -> dict[str, int]:
    """Rows per cluster."""
    if rows.num_rows == 0:
        return {}
    counts = rows.group_by("cluster").aggregate([([], "count_all")])
    return dict(zip(counts["cluster"].to_pylist(), counts["count_all"].to_pylist()))


def duplicate_job_keys(jobs: pa.Table) -> dict[str, int]:
    """Extra rows per cluster beyond one per (cluster, job_id_raw, submit_time); {} when every key is unique."""
    if jobs.num_rows == 0:
        return {}
    keyed = jobs.group_by(JOB_KEY).aggregate([([], "count_all")])
    dupes = keyed.filter(pc.greater(keyed["count_all"], 1))
    if dupes.num_rows == 0:
        return {}
    dupes = dupes.append_column("extra", pc.subtract(dupes["count_all"], 1))
    return sum_by_cluster(dupes, "extra")


def bad_durations(jobs: pa.Table) -> dict[str, int]:
    """Rows per cluster with end < start, negative elapsed_s or negative wait_s (NULL times are not errors)."""
    if jobs.num_rows == 0:
        return {}
    bad = pc.or_kleene(
        pc.or_kleene(pc.less(jobs["end_time"], jobs["start_time"]), pc.less(jobs["elapsed_s"], 0)),
        pc.less(jobs["wait_s"], 0),
    )
    return count_by_cluster(jobs.filter(pc.fill_null(bad, False)))


def sum_by_cluster(rows: pa.Table, column: str) -> dict[str, float]:
    """Sum of ``column`` per cluster (NULL counts as 0)."""
    if rows.num_rows == 0:
        return {}
    sums = rows.group_by("cluster").aggregate([(column, "sum")])
    return {c: float(v or 0.0) for c, v in zip(sums["cluster"].to_pylist(), sums[f"{column}_sum"].to_pylist())}


def usage_mismatch(jobs: pa.Table, usage_daily: pa.Table, tolerance_hours: float = 1e-6) -> dict[str, float]:
    """Per cluster: |sum of jobs.cpu_hours - sum of usage_daily.cpu_hours| where it exceeds the tolerance."""
    job_sums, usage_sums = sum_by_cluster(jobs, "cpu_hours"), sum_by_cluster(usage_daily, "cpu_hours")
    gaps = {c: abs(job_sums.get(c, 0.0) - usage_sums.get(c, 0.0)) for c in set(job_sums) | set(usage_sums)}
    return {c: g for c, g in sorted(gaps.items()) if g > tolerance_hours * max(1.0, job_sums.get(c, 0.0))}


def states_by_cluster(jobs: pa.Table) -> dict[str, dict[str, int]]:
    """``{cluster: {state: jobs}}``."""
    out: dict[str, dict[str, int]] = {}
    if jobs.num_rows == 0:
        return out
    counts = jobs.group_by(["cluster", "state"]).aggregate([([], "count_all")])
    for cluster, state, n in zip(
        counts["cluster"].to_pylist(), counts["state"].to_pylist(), counts["count_all"].to_pylist()
    ):
        out.setdefault(cluster, {})[state] = n
    return {c: dict(sorted(s.items())) for c, s in sorted(out.items())}


def quarantine_shares(quarantine: pa.Table, drops: pa.Table) -> dict[str, float]:
    """Per cluster: quarantined lines / data lines in that cluster's drops (1.0 if there are no data lines)."""
    lines = sum_by_cluster(drops, "rows")
    bad = count_by_cluster(quarantine)
    return {
        c: (bad.get(c, 0) / lines[c]) if lines.get(c) else (1.0 if bad.get(c) else 0.0)
        for c in sorted(set(lines) | set(bad))
    }


def cluster_summary(jobs: pa.Table, quarantine: pa.Table) -> dict[str, dict]:
    """Per cluster: rows, CPU-hours, GPU-hours, jobs by state, quarantined lines (materialization metadata)."""
    rows, cpu, gpu = count_by_cluster(jobs), sum_by_cluster(jobs, "cpu_hours"), sum_by_cluster(jobs, "gpu_hours")
    states, quarantined = states_by_cluster(jobs), count_by_cluster(quarantine)
    return {
        c: {
            "rows": rows.get(c, 0),
            "cpu_hours": round(cpu.get(c, 0.0), 3),
            "gpu_hours": round(gpu.get(c, 0.0), 3),
            "jobs_by_state": states.get(c, {}),
            "quarantined": quarantined.get(c, 0),
        }
        for c in sorted(set(rows) | set(quarantined))
    }


def merge_counts(total: dict, part: dict) -> dict:
    """Add nested per-cluster numbers (``cluster_summary``, ``count_by_cluster``, ``sum_by_cluster``) of one day
    into a running total, so a 100-day run never holds 100 days of rows to describe them."""
    merged = dict(total)
    for key, value in part.items():
        if isinstance(value, dict):
            merged[key] = merge_counts(merged.get(key, {}), value)
        else:
            merged[key] = (
                round(merged.get(key, 0) + value, 6) if isinstance(value, float) else merged.get(key, 0) + value
            )
    return dict(sorted(merged.items()))


def whole_drops(quarantine: pa.Table) -> dict[str, list[str]]:
    """``{cluster: [detail, ...]}`` (the detail names the drop's landing path) for drops quarantined whole (their one row has line_no 0;
    cross-checks such as capacity_mismatch are not drops quarantined whole)."""
    if quarantine.num_rows == 0:
        return {}
    whole = pc.and_(
        pc.equal(quarantine["line_no"], 0), pc.invert(pc.is_in(quarantine["reason"], pa.array(CROSS_CHECK_REASONS)))
    )
    rows = quarantine.filter(whole).sort_by([("cluster", "ascending"), ("date", "ascending"), ("drop_id", "ascending")])
    out: dict[str, list[str]] = {}
    for r in rows.select(["cluster", "date", "drop_id", "detail"]).to_pylist():
        out.setdefault(r["cluster"], []).append(r["detail"])
    return out
