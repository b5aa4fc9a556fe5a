"""Protects the Efficiency page: overall and per-user efficiency and wasted CPU-hours equal direct SQL."""

from slurm_assets_tests.streamlit_app.helpers import (
    assert_frame_matches,
    bounds,
    find_frame,
    metrics,
    period_params,
)

WASTED = "greatest(alloc_cpus * elapsed_s - total_cpu_s, 0) / 3600.0"


def test_summary_and_worst_offenders(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "efficiency", **p)
    row = warehouse.sql(
        f"""SELECT 100.0 * sum(total_cpu_s) FILTER (WHERE total_cpu_s IS NOT NULL AND elapsed_s > 0)
                   / sum(alloc_cpus * elapsed_s) FILTER (WHERE total_cpu_s IS NOT NULL AND elapsed_s > 0) AS cpu,
                   100.0 * sum(max_rss_bytes) FILTER (WHERE max_rss_bytes IS NOT NULL AND req_mem_bytes > 0)
                   / sum(req_mem_bytes) FILTER (WHERE max_rss_bytes IS NOT NULL AND req_mem_bytes > 0) AS mem,
                   sum({WASTED}) AS wasted
            FROM jobs WHERE end_date BETWEEN ? AND ?""",
        bounds(p),
    ).iloc[0]
    shown = metrics(at)
    assert shown["CPU efficiency (%)"] == f"{row.cpu:,.1f}"
    assert shown["Memory efficiency (%)"] == f"{row.mem:,.1f}"
    assert shown["Wasted CPU-hours"] == f"{row.wasted:,.1f}"
    assert any("TotalCPU / (allocated CPUs x elapsed)" in m.value for m in at.markdown)

    by_user = find_frame(at, "user", "wasted_cpu_hours")
    expected = warehouse.sql(
        f"""SELECT "user", count(*) AS jobs, sum(cpu_hours) AS cpu_hours, sum({WASTED}) AS wasted_cpu_hours
            FROM jobs WHERE end_date BETWEEN ? AND ? GROUP BY 1 HAVING count(*) >= 5""",
        bounds(p),
    )
    assert_frame_matches(by_user, expected, ["user"])
    assert list(by_user["wasted_cpu_hours"]) == sorted(by_user["wasted_cpu_hours"], reverse=True)
    worst = find_frame(at, "job_id", "wasted_cpu_hours")
    top = warehouse.one(f"SELECT max({WASTED}) FROM jobs WHERE end_date BETWEEN ? AND ?", bounds(p))
    assert abs(worst["wasted_cpu_hours"].iloc[0] - top) < 1e-9


def test_order_by_lowest_cpu_efficiency(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "efficiency", **p)
    at.selectbox(key="eff_order").set_value("cpu_efficiency_pct").run()
    by_account = find_frame(at, "account", "cpu_efficiency_pct")
    assert list(by_account["cpu_efficiency_pct"]) == sorted(by_account["cpu_efficiency_pct"])
