"""Protects what a chart means at a glance, read from the figures' specs: state colours, cluster colours, axes."""

import json

from slurm_assets_tests.streamlit_app.helpers import period_params
from streamlit_app import palette


def figures(at) -> dict[str, dict]:
    """Plotly figures shown, by title."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[spec["layout"]["title"]["text"]] = spec
    return out


def trace_colours(spec) -> dict[str, str]:
    return {t["name"]: t["marker"]["color"] for t in spec["data"] if "(partial)" not in t["name"]}


def test_queue_states_completed_green_failed_red(warehouse, open_app):
    at = open_app(warehouse, "queue", **period_params(warehouse, grain="week"))
    states = next(s for t, s in figures(at).items() if t.startswith("Job states"))
    colours = trace_colours(states)
    assert colours["COMPLETED"] == palette.STATE_COLORS["COMPLETED"] == "#2CA02C"
    assert colours["FAILED"] == palette.STATE_COLORS["FAILED"] == "#D62728"
    assert colours["CANCELLED"] == palette.STATE_COLORS["CANCELLED"]


def test_each_cluster_keeps_one_colour_across_charts_and_pages(warehouse, open_app):
    seen: dict[str, set] = {}
    at = open_app(warehouse, "overview", **period_params(warehouse, grain="week"))
    shown = figures(at)
    assert {"CPU-hours per week by cluster", "GPU-hours per week by cluster"} <= set(shown)
    for spec in shown.values():
        for cluster, colour in trace_colours(spec).items():
            seen.setdefault(cluster, set()).add(colour)
    at = open_app(warehouse, "usage", **period_params(warehouse, grain="week"))
    at.selectbox(key="usage_dim").set_value("cluster").run()
    for cluster, colour in trace_colours(figures(at)["CPU-hours per week by Cluster"]).items():
        seen.setdefault(cluster, set()).add(colour)
    assert sorted(seen) == ["alpha", "beta", "gamma"]
    assert all(len(c) == 1 for c in seen.values()), seen
    assert len({next(iter(c)) for c in seen.values()}) == 3


def test_axes_are_dates_with_human_titles_and_partial_periods_marked(warehouse, open_app):
    at = open_app(warehouse, "overview", **period_params(warehouse, days=45, grain="week"))
    spec = figures(at)["CPU-hours per week by cluster"]
    assert spec["layout"]["yaxis"]["title"]["text"] == "CPU-hours"  # not "CPU-hours (CPU-hours)"
    assert spec["layout"]["xaxis"]["tickformat"] == "%Y-%m-%d"
    shapes = spec["data"][0]["marker"]["pattern"]["shape"]
    assert shapes[0] == "/" and shapes[-1] == "/" and "" in shapes  # range cuts the first and last weeks
    assert any("partial period" in c.value for c in at.caption)
