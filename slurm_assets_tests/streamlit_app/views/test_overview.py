"""Protects the Overview page: its KPIs, deltas and usage chart equal direct SQL, and cluster filters apply."""

import datetime as dt

from slurm_assets_tests.streamlit_app.helpers import (
    bounds,
    find_frame,
    metrics,
    period_params,
)

KPI_SQL = """
SELECT (SELECT count(*) FROM jobs WHERE end_date BETWEEN $1 AND $2 AND list_contains($3, cluster)) AS jobs,
       (SELECT sum(cpu_hours) FROM usage_daily WHERE date BETWEEN $1 AND $2 AND list_contains($3, cluster)) AS cpu,
       (SELECT sum(gpu_hours) FROM usage_daily WHERE date BETWEEN $1 AND $2 AND list_contains($3, cluster)) AS gpu,
       (SELECT count(DISTINCT "user") FROM usage_daily WHERE date BETWEEN $1 AND $2 AND list_contains($3, cluster))
           AS users,
       (SELECT count(DISTINCT account) FROM usage_daily WHERE date BETWEEN $1 AND $2 AND list_contains($3, cluster))
           AS accounts,
       (SELECT avg(wait_s) / 3600.0 FROM jobs WHERE end_date BETWEEN $1 AND $2 AND list_contains($3, cluster))
           AS wait
"""
ALL = ["alpha", "beta", "gamma"]


def expected(wh, lo, hi, clusters=ALL):
    return wh.sql(KPI_SQL, [lo, hi, clusters]).iloc[0]


def test_kpis_and_deltas_equal_sql(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "overview", **p)
    lo, hi = bounds(p)
    now = expected(warehouse, lo, hi)
    before = expected(warehouse, lo - dt.timedelta(days=50), lo - dt.timedelta(days=1))
    shown = metrics(at)
    assert shown == {
        "Jobs": f"{now.jobs:,.0f}",
        "CPU-hours": f"{now.cpu:,.1f}",
        "GPU-hours": f"{now.gpu:,.1f}",
        "Active users": f"{now.users:,.0f}",
        "Active accounts": f"{now.accounts:,.0f}",
        "Mean wait (h)": f"{now.wait:,.2f}",
    }
    deltas = {m.label: m.delta for m in at.metric}
    assert deltas["Jobs"] == f"{(now.jobs - before.jobs) * 100.0 / before.jobs:+.1f}%"
    assert deltas["CPU-hours"] == f"{(now.cpu - before.cpu) * 100.0 / before.cpu:+.1f}%"
    assert before.jobs > 0 and now.jobs > before.jobs  # the previous period only partly has data


def test_usage_chart_sums_to_usage_daily_per_cluster(warehouse, open_app):
    p = period_params(warehouse, grain="week")
    at = open_app(warehouse, "overview", **p)
    chart = find_frame(at, "period", "cluster", "cpu_hours")
    assert all(d.weekday() == 0 for d in chart["period"].dt.date)  # weeks start on Monday
    sql = warehouse.sql(
        "SELECT cluster, sum(cpu_hours) AS cpu_hours FROM usage_daily WHERE date BETWEEN ? AND ? GROUP BY 1",
        bounds(p),
    ).set_index("cluster")["cpu_hours"]
    got = chart.groupby("cluster")["cpu_hours"].sum()
    assert sorted(got.index) == sorted(sql.index)
    for cluster in sql.index:
        assert abs(got[cluster] - sql[cluster]) < 1e-6 * sql[cluster]


def test_cluster_filter_from_url_applies_and_stays_in_url(warehouse, open_app):
    p = period_params(warehouse, cluster="beta")
    at = open_app(warehouse, "overview", **p)
    now = expected(warehouse, *bounds(p), clusters=["beta"])
    assert metrics(at)["Jobs"] == f"{now.jobs:,.0f}"
    assert metrics(at)["CPU-hours"] == f"{now.cpu:,.1f}"
    assert at.query_params["cluster"] == "beta"
    assert at.query_params["start"] == p["start"] and at.query_params["range"] == "custom"


def test_sidebar_change_updates_numbers_and_url(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "overview", **p)
    at.multiselect(key="flt_cluster").set_value(["alpha", "gamma"]).run()
    now = expected(warehouse, *bounds(p), clusters=["alpha", "gamma"])
    assert metrics(at)["Jobs"] == f"{now.jobs:,.0f}"
    assert at.query_params["cluster"] == ["alpha", "gamma"]
