"""Protects the Users & accounts page: top users/accounts with hours, jobs and efficiency equal direct SQL."""

import pytest

from slurm_assets_tests.streamlit_app.helpers import (
    assert_frame_matches,
    bounds,
    find_frame,
    period_params,
)

SQL = """
WITH u AS (SELECT "{e}" AS k, sum(cpu_hours) AS cpu_hours, sum(gpu_hours) AS gpu_hours, sum(jobs_ended) AS jobs
           FROM usage_daily WHERE date BETWEEN $1 AND $2 GROUP BY 1),
     j AS (SELECT "{e}" AS k,
                  100.0 * sum(total_cpu_s) FILTER (WHERE total_cpu_s IS NOT NULL AND elapsed_s > 0)
                  / sum(alloc_cpus * elapsed_s) FILTER (WHERE total_cpu_s IS NOT NULL AND elapsed_s > 0)
                  AS cpu_efficiency_pct,
                  100.0 * sum(max_rss_bytes) FILTER (WHERE max_rss_bytes IS NOT NULL AND req_mem_bytes > 0)
                  / sum(req_mem_bytes) FILTER (WHERE max_rss_bytes IS NOT NULL AND req_mem_bytes > 0)
                  AS mem_efficiency_pct
           FROM jobs WHERE end_date BETWEEN $1 AND $2 GROUP BY 1)
SELECT k AS "{e}", cpu_hours, gpu_hours, jobs, cpu_efficiency_pct, mem_efficiency_pct FROM u LEFT JOIN j USING (k)
"""


@pytest.mark.parametrize("entity", ["user", "account"])
def test_top_tables_equal_sql(warehouse, open_app, entity):
    p = period_params(warehouse)
    at = open_app(warehouse, "users_accounts", **p)
    shown = find_frame(at, entity, "cpu_hours", "cpu_efficiency_pct")
    expected = warehouse.sql(SQL.format(e=entity), bounds(p))
    assert_frame_matches(shown, expected, [entity])
    assert list(shown["cpu_hours"]) == sorted(shown["cpu_hours"], reverse=True)


def test_rank_by_gpu_hours_and_limit(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "users_accounts", **p)
    at.selectbox(key="ua_order").set_value("gpu_hours")
    at.number_input(key="ua_limit").set_value(5).run()
    shown = find_frame(at, "user", "gpu_hours")
    expected = (
        warehouse.sql(SQL.format(e="user"), bounds(p))
        .sort_values(["gpu_hours", "user"], ascending=[False, True])
        .head(5)
    )
    assert list(shown["user"]) == list(expected["user"])
