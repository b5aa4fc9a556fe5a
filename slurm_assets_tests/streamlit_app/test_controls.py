"""Protects shareable views: every page's controls round-trip through the URL (set, reload from the URL, same view)."""

import base64
import datetime as dt
import json

import numpy as np
import pytest

from slurm_assets_tests.streamlit_app.helpers import period_params

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


# The sidebar filters every page has, set on every page too.
SIDEBAR = [
    ("multiselect", "flt_cluster", ["alpha", "beta"], "cluster"),
    ("multiselect", "flt_gpu_type", ["a100"], "gpu_type"),
    ("multiselect", "flt_state", ["COMPLETED", "FAILED"], "state"),
    ("radio", "flt_grain", "month", "grain"),
]
# Pages without controls of their own still round-trip their filters; the job page's URL is its job (test_job).
PAGES = sorted(CONTROLS) + ["overview", "gpus", "data_status"]


def _widget(at, kind, key):
    return getattr(at, kind)(key=key)


def _as_url(value):
    """How AppTest shows a URL key: one value as text, several as a list."""
    if isinstance(value, list):
        return [str(v) for v in value] if len(value) > 1 else str(value[0])
    return str(value)


def _numbers(node):
    """A chart spec with its typed arrays decoded and rounded (DuckDB sums in parallel: the last bits vary)."""
    if isinstance(node, dict):
        if "bdata" in node and "dtype" in node:
            values = np.frombuffer(base64.b64decode(node["bdata"]), dtype=node["dtype"])
            return [round(float(v), 6) for v in values]
        return {k: _numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_numbers(v) for v in node]
    return round(node, 6) if isinstance(node, float) else node


def _view(at) -> list:
    """What the page shows: every table and every chart's spec."""
    volatile = ["age_h"]  # Data status: hours since the last drop, counted from now
    tables = [(type(d.value), d.value.drop(columns=volatile, errors="ignore").to_json()) for d in at.dataframe]
    charts = [_numbers(json.loads(c.proto.spec)) for c in at.get("plotly_chart")]
    return tables + charts


def _round_trip(open_app, wh, page, settings, **params):
    at = open_app(wh, page, **params)
    for kind, key, value, _url in settings:
        _widget(at, kind, key).set_value(value)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    url = {k: at.query_params[k] for k in at.query_params}
    for _kind, _key, value, key in settings:
        assert url[key] == _as_url(value), (key, url)
    shown = _view(at)

    again = open_app(wh, page, **url)  # a new session from the link alone
    for kind, key, value, _url in settings:
        assert _widget(again, kind, key).value == value, key
    assert _view(again) == shown
    return again


@pytest.mark.parametrize("page", PAGES)
def test_controls_round_trip_through_the_url(warehouse, open_app, page):
    settings = SIDEBAR + CONTROLS.get(page, [])
    again = _round_trip(open_app, warehouse, page, settings, **period_params(warehouse))
    assert again.title, "the restored page draws"


@pytest.fixture(scope="module")
def report_warehouse(tmp_path_factory):
    from slurm_assets.reports import monthly
    from slurm_assets_tests.reports.conftest import build_report_warehouse
    from slurm_assets_tests.streamlit_app.conftest import Warehouse

    root = build_report_warehouse(tmp_path_factory.mktemp("reports-url"))
    for month in ("2026-02", "2026-03"):
        monthly.write_reports(root, month)
    return Warehouse(root, dt.date(2026, 1, 31), dt.date(2026, 3, 31))


def test_reports_pick_round_trips_through_the_url(report_warehouse, open_app):
    settings = [("selectbox", "rep_pick", "2026-02/beta/acc-c", "report")] + SIDEBAR[:1]
    again = _round_trip(open_app, report_warehouse, "reports", settings, **period_params(report_warehouse))
    assert again.selectbox(key="rep_pick").value == "2026-02/beta/acc-c"
    assert again.query_params["report"] == "2026-02/beta/acc-c"


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
