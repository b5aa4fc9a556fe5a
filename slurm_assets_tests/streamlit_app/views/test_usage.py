"""Protects the Usage page: stacked series (top N + other) and share tables equal usage_daily via direct SQL."""

from slurm_assets_tests.streamlit_app.helpers import (
    assert_frame_matches,
    bounds,
    find_frame,
    period_params,
)


def test_stacked_series_top_n_and_other(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "usage", **p)
    chart = find_frame(at, "period", "user", "cpu_hours")
    per_user = warehouse.sql(
        'SELECT "user", sum(cpu_hours) AS cpu_hours FROM usage_daily WHERE date BETWEEN ? AND ? GROUP BY 1'
        " ORDER BY cpu_hours DESC, 1",
        bounds(p),
    )
    top = set(per_user["user"][:8])
    assert set(chart["user"]) == top | {"(other)"}
    other = chart[chart["user"] == "(other)"]["cpu_hours"].sum()
    assert abs(other - per_user["cpu_hours"][8:].sum()) < 1e-6
    per_day = warehouse.sql(
        "SELECT date AS period, sum(cpu_hours) AS cpu_hours FROM usage_daily WHERE date BETWEEN ? AND ? GROUP BY 1",
        bounds(p),
    )
    got = chart.groupby("period", as_index=False)["cpu_hours"].sum()
    got["period"] = got["period"].dt.date
    per_day["period"] = per_day["period"].dt.date
    assert_frame_matches(got, per_day, ["period"])


def test_share_table_by_chosen_dimension(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "usage", **p)
    at.selectbox(key="usage_dim").set_value("account").run()
    assert not at.exception
    shown = find_frame(at, "account", "cpu_share_pct")
    expected = warehouse.sql(
        """SELECT account, sum(cpu_hours) AS cpu_hours,
                  sum(cpu_hours) * 100 / sum(sum(cpu_hours)) OVER () AS cpu_share_pct,
                  sum(gpu_hours) AS gpu_hours, sum(jobs_ended) AS jobs
           FROM usage_daily WHERE date BETWEEN ? AND ? GROUP BY 1""",
        bounds(p),
    )
    assert_frame_matches(shown, expected, ["account"])
    assert abs(shown["cpu_share_pct"].sum() - 100) < 1e-9


def test_state_dimension_counts_on_job_end_day(warehouse, open_app):
    p = period_params(warehouse)
    at = open_app(warehouse, "usage", **p)
    at.selectbox(key="usage_dim").set_value("state").run()
    shown = find_frame(at, "state", "cpu_hours", "share_pct")
    expected = warehouse.sql(
        "SELECT state, sum(cpu_hours) AS cpu_hours FROM jobs WHERE end_date BETWEEN ? AND ? GROUP BY 1", bounds(p)
    )
    assert_frame_matches(shown, expected, ["state"])
