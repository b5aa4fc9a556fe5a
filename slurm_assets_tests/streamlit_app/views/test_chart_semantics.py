"""Protects what a chart means at a glance, read from the figures' specs: state colours, cluster colours, axes."""

import json

import pytest

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


# Every chart that colours job states or clusters, on every page: (page, page controls in the URL, chart titles).
STATE_CHARTS = [
    ("queue", {}, ["Job states per week (% of jobs that ended)"]),
    ("usage", {"stack": "state"}, ["CPU-hours per week by State"]),
    ("explorer", {"metric": "jobs", "dim": "state", "view": "series"}, ["Jobs by State per week"]),
    ("explorer", {"metric": "jobs", "dim": "state", "view": "total"}, ["Jobs by State"]),
]
CLUSTER_CHARTS = [
    ("overview", {}, ["CPU-hours per week by cluster", "GPU-hours per week by cluster"]),
    ("usage", {"stack": "cluster"}, ["CPU-hours per week by Cluster"]),
    ("explorer", {"metric": "cpu_hours", "dim": "cluster", "view": "series"}, ["CPU-hours by Cluster per week"]),
    ("explorer", {"metric": "jobs", "dim": "cluster", "view": "total"}, ["Jobs by Cluster"]),
    (
        "utilization",
        {"per": "cluster"},
        [
            "CPU utilization per week (used / available CPU-hours, %)",
            "GPU utilization per week (used / available GPU-hours, %)",
        ],
    ),
]


def colour_of(trace: dict) -> str:
    """A trace's one colour: bars and markers carry it in marker.color, lines in line.color."""
    colour = (trace.get("marker") or {}).get("color") or (trace.get("line") or {}).get("color")
    assert isinstance(colour, str), trace.get("name")
    return colour


def _charts(warehouse, open_app, page, controls, titles) -> dict[str, dict]:
    at = open_app(warehouse, page, **period_params(warehouse, grain="week"), **controls)
    shown = figures(at)
    assert set(titles) <= set(shown), (page, controls, sorted(shown))
    return {t: shown[t] for t in titles}


@pytest.mark.parametrize("page, controls, titles", STATE_CHARTS, ids=[f"{c[0]}-{len(c[1])}" for c in STATE_CHARTS])
def test_every_state_chart_colours_states_by_meaning(warehouse, open_app, page, controls, titles):
    for title, spec in _charts(warehouse, open_app, page, controls, titles).items():
        colours = {t["name"]: colour_of(t) for t in spec["data"] if "(partial)" not in t["name"]}
        assert {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY"} <= set(colours), title
        for state, colour in colours.items():
            assert colour == palette.state_color(state), (title, state)
        assert colours["COMPLETED"] == "#2CA02C" and colours["FAILED"] == "#D62728", title


def test_each_cluster_has_one_colour_in_every_chart_of_every_page(warehouse, open_app):
    seen: dict[str, set] = {}
    for page, controls, titles in CLUSTER_CHARTS:
        for title, spec in _charts(warehouse, open_app, page, controls, titles).items():
            names = set()
            for trace in spec["data"]:
                cluster = trace["name"].removesuffix(" (partial)")
                names.add(cluster)
                seen.setdefault(cluster, set()).add(colour_of(trace))
            assert names == {"alpha", "beta", "gamma"}, title
    assert all(len(c) == 1 for c in seen.values()), seen
    assert len({next(iter(c)) for c in seen.values()}) == 3  # three clusters, three colours
