"""Protects the Explorer page: metric x dimension (incl. buckets), series or aggregate, equals direct SQL."""

from slurm_assets_tests.streamlit_app.helpers import (
    assert_frame_matches,
    bounds,
    find_frame,
    period_params,
)


def test_default_series_comes_from_usage_daily(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "explorer", **p)
    chart = find_frame(at, "period", "cluster", "cpu_hours")
    got = chart.groupby("cluster", as_index=False)["cpu_hours"].sum()
    expected = warehouse.sql(
        "SELECT cluster, sum(cpu_hours) AS cpu_hours FROM usage_daily WHERE date BETWEEN ? AND ? GROUP BY 1", bounds(p)
    )
    assert_frame_matches(got, expected, ["cluster"])


def test_cpu_efficiency_by_job_size_bucket(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "explorer", **p)
    at.selectbox(key="ex_metric").set_value("cpu_efficiency")
    at.selectbox(key="ex_dim").set_value("job_size")
    at.radio(key="ex_view").set_value("total").run()
    assert not at.exception
    shown = find_frame(at, "job_size", "cpu_efficiency")
    expected = warehouse.sql(
        """SELECT CASE WHEN alloc_cpus <= 1 THEN '1' WHEN alloc_cpus <= 4 THEN '2-4' WHEN alloc_cpus <= 16 THEN '5-16'
                       WHEN alloc_cpus <= 64 THEN '17-64' WHEN alloc_cpus <= 256 THEN '65-256' ELSE '257+' END
                  AS job_size,
                  100.0 * sum(total_cpu_s) FILTER (WHERE total_cpu_s IS NOT NULL AND elapsed_s > 0)
                  / sum(alloc_cpus * elapsed_s) FILTER (WHERE total_cpu_s IS NOT NULL AND elapsed_s > 0)
                  AS cpu_efficiency
           FROM jobs WHERE end_date BETWEEN ? AND ? GROUP BY 1""",
        bounds(p),
    )
    assert_frame_matches(shown, expected, ["job_size"])
    assert list(shown["job_size"]) == sorted(
        shown["job_size"], key=["1", "2-4", "5-16", "17-64", "65-256", "257+"].index
    )


def test_wait_hours_by_wait_bucket_with_state_filter(warehouse, open_app):
    p = period_params(warehouse, state="COMPLETED")
    at = open_app(warehouse, "explorer", **p)
    at.selectbox(key="ex_metric").set_value("wait_hours")
    at.selectbox(key="ex_dim").set_value("wait_time")
    at.radio(key="ex_view").set_value("total").run()
    shown = find_frame(at, "wait_time", "wait_hours")
    expected = warehouse.sql(
        """SELECT CASE WHEN wait_s IS NULL THEN 'unknown' WHEN wait_s < 60 THEN '< 1 min'
                       WHEN wait_s < 600 THEN '1 - 10 min' WHEN wait_s < 3600 THEN '10 min - 1 h'
                       WHEN wait_s < 21600 THEN '1 - 6 h' WHEN wait_s < 86400 THEN '6 - 24 h' ELSE '>= 1 day' END
                  AS wait_time, sum(wait_s) / 3600.0 AS wait_hours
           FROM jobs WHERE end_date BETWEEN ? AND ? AND state = 'COMPLETED' GROUP BY 1""",
        bounds(p),
    )
    assert_frame_matches(shown, expected, ["wait_time"])


def test_state_filter_switches_hours_to_jobs_table(warehouse, open_app):
    p = period_params(warehouse, state="FAILED")
    at = open_app(warehouse, "explorer", **p)
    at.radio(key="ex_view").set_value("total").run()
    assert any("Source: jobs" in c.value for c in at.caption)
    shown = find_frame(at, "cluster", "cpu_hours")
    expected = warehouse.sql(
        "SELECT cluster, sum(cpu_hours) AS cpu_hours FROM jobs WHERE end_date BETWEEN ? AND ? AND state = 'FAILED'"
        " GROUP BY 1",
        bounds(p),
    )
    assert_frame_matches(shown, expected, ["cluster"])


def test_mean_wait_by_partition_and_gpu_hours_by_gpu_type_from_the_url(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "explorer", **p, metric="mean_wait_h", dim="partition", view="total")
    shown = find_frame(at, "partition", "mean_wait_h")
    expected = warehouse.sql(
        """SELECT partition, avg(wait_s) / 3600.0 AS mean_wait_h FROM jobs
           WHERE end_date BETWEEN ? AND ? AND wait_s IS NOT NULL GROUP BY 1""",
        bounds(p),
    )
    assert_frame_matches(shown, expected, ["partition"])

    at = open_app(warehouse, "explorer", **p, metric="gpu_hours", dim="gpu_type", view="total")
    shown = find_frame(at, "gpu_type", "gpu_hours")
    expected = warehouse.sql(
        "SELECT CASE gpu_type WHEN '' THEN '(untyped)' ELSE gpu_type END AS gpu_type,"
        " sum(gpu_hours) AS gpu_hours FROM gpu_usage_daily WHERE date BETWEEN ? AND ? GROUP BY 1",
        bounds(p),
    )
    assert sorted(expected["gpu_type"]) == ["(untyped)", "a100", "h100"]
    assert_frame_matches(shown, expected, ["gpu_type"])

    at = open_app(warehouse, "explorer", **p, metric="jobs", dim="gpu_type")
    assert any("only GPU-hours" in i.value for i in at.info)
