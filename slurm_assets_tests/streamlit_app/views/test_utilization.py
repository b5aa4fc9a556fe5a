"""Protects the Utilization page: used (usage_daily) vs available (capacity_daily) per day equals direct SQL."""

from slurm_assets_tests.streamlit_app.helpers import (
    assert_frame_matches,
    bounds,
    find_frame,
    period_params,
)


def test_used_vs_capacity_per_cluster_partition_day(warehouse, open_app):
    p = period_params(warehouse, days=20)
    at = open_app(warehouse, "utilization", **p)
    shown = find_frame(at, "period", "cluster", "partition", "cpu_util_pct")
    expected = warehouse.sql(
        """WITH u AS (SELECT date AS period, cluster, partition, sum(cpu_hours) AS cpu_hours_used,
                             sum(gpu_hours) AS gpu_hours_used
                      FROM usage_daily WHERE date BETWEEN $1 AND $2 GROUP BY ALL),
                c AS (SELECT date AS period, cluster, partition, sum(cpu_hours_available) AS cpu_hours_available,
                             sum(gpu_hours_available) AS gpu_hours_available
                      FROM capacity_daily WHERE date BETWEEN $1 AND $2 GROUP BY ALL)
           SELECT period, cluster, partition, coalesce(cpu_hours_used, 0) AS cpu_hours_used, cpu_hours_available,
                  100.0 * coalesce(cpu_hours_used, 0) / cpu_hours_available AS cpu_util_pct,
                  coalesce(gpu_hours_used, 0) AS gpu_hours_used, gpu_hours_available
           FROM u FULL JOIN c USING (period, cluster, partition)""",
        bounds(p),
    )
    assert len(shown) == 20 * 3 * 3  # days x clusters x partitions
    assert_frame_matches(shown, expected, ["period", "cluster", "partition"])


def test_per_cluster_totals(warehouse, open_app):
    p = period_params(warehouse, days=14, grain="month")
    at = open_app(warehouse, "utilization", **p)
    at.radio(key="util_by").set_value("cluster").run()
    shown = find_frame(at, "period", "cluster", "cpu_hours_available")
    assert "partition" not in shown.columns
    expected = warehouse.sql(
        """SELECT cluster, sum(cpu_hours_available) AS cpu_hours_available FROM capacity_daily
           WHERE date BETWEEN ? AND ? GROUP BY 1""",
        bounds(p),
    )
    assert_frame_matches(shown.groupby("cluster", as_index=False)["cpu_hours_available"].sum(), expected, ["cluster"])
