"""Protects shareable views: every page's controls round-trip through the URL (set, reload from the URL, same view)."""

import pytest

from slurm_assets_tests.streamlit_app.helpers import frames, period_params

# page -> [(widget kind, widget key, value to set, URL key)]
CONTROLS = {
    "usage": [
        ("selectbox", "usage_dim", "cluster", "stack"),
        ("selectbox", "usage_metric", "gpu_hours", "metric"),
        ("number_input", "usage_top_n", 2, "top"),
    ],
    "explorer": [
        ("selectbox", "ex_metric", "mean_wait_h", "metric"),
        ("selectbox", "ex_dim", "partition", "dim"),
        ("radio", "ex_view", "total", "view"),
        ("number_input", "ex_top_n", 2, "top"),
    ],
    "utilization": [("radio", "util_by", "cluster", "per")],
    "users_accounts": [("selectbox", "ua_order", "jobs", "rank"), ("number_input", "ua_limit", 10, "top")],
    "queue": [("radio", "q_wait", "waited_1h_pct", "wait")],
    "efficiency": [
        ("number_input", "eff_min_jobs", 3, "min_jobs"),
        ("selectbox", "eff_order", "mem_efficiency_pct", "worst"),
    ],
    "jobs": [
        ("text_input", "jobs_search", "u03", "q"),
        ("selectbox", "jobs_sort", "cpu_hours", "sort"),
        ("selectbox", "jobs_page_size", 50, "rows"),
    ],
}


def _widget(at, kind, key):
    return getattr(at, kind)(key=key)


@pytest.mark.parametrize("page", sorted(CONTROLS))
def test_controls_round_trip_through_the_url(warehouse, open_app, page):
    at = open_app(warehouse, page, **period_params(warehouse, grain="week"))
    for kind, key, value, _url in CONTROLS[page]:
        _widget(at, kind, key).set_value(value)
    at.run()
    assert not at.exception
    params = {k: at.query_params[k] for k in at.query_params}
    for _kind, _key, value, url in CONTROLS[page]:
        assert params[url] == str(value), (url, params)
    shown = [(type(d.value), d.value.to_json()) for d in at.dataframe]

    again = open_app(warehouse, page, **params)  # a new session from the link alone
    for kind, key, value, _url in CONTROLS[page]:
        assert _widget(again, kind, key).value == value
    assert [(type(d.value), d.value.to_json()) for d in again.dataframe] == shown
    assert frames(again), "the restored view shows its tables"


def test_bad_url_values_fall_back_to_defaults(warehouse, open_app):
    at = open_app(warehouse, "usage", **period_params(warehouse, stack="nonsense", top="-4", metric="jobs"))
    assert at.selectbox(key="usage_dim").value == "user"
    assert at.number_input(key="usage_top_n").value == 8
    assert at.selectbox(key="usage_metric").value == "cpu_hours"


def test_overview_also_answers_at_overview(warehouse, open_app):
    at = open_app(warehouse, None, **period_params(warehouse))
    at.switch_page("views/overview.py")  # the alias page uses the same file
    at.run()
    assert [t.value for t in at.title] == ["Overview"]
