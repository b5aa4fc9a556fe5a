"""Protects the palette and the chart rules: states by meaning, stable entity colours, partial periods, date ticks."""

import datetime as dt

import pandas as pd
import pytest

from streamlit_app import charts, formats, palette

D = dt.date


@pytest.mark.parametrize(
    "state, colour",
    [
        ("COMPLETED", "#2CA02C"),  # green, whatever order the states come in
        ("FAILED", "#D62728"),  # red
        ("CANCELLED by 0", "#8C8C8C"),  # sacct's raw form maps like the normalized one
        ("TIMEOUT", "#F2A900"),  # amber
        ("SOME_NEW_STATE", palette.GREY),  # a newer Slurm's state: neutral, never a misleading hue
    ],
)
def test_states_by_meaning(state, colour):
    assert palette.state_color(state) == colour
    assert palette.color_map("state", ["FAILED", state])[state] == colour


def test_failure_states_are_red_shades_distinct_from_entities():
    reds = {palette.state_color(s) for s in ("FAILED", "OUT_OF_MEMORY", "NODE_FAIL")}
    assert len(reds) == 3
    for colour in reds:  # red channel dominates
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert r > 1.5 * max(g, b)
    assert not reds & set(palette.ENTITY_COLORS[:7])


def test_entity_colour_depends_on_the_known_set_not_on_the_subset_shown():
    known = ["alpha", "beta", "gamma"]
    full = palette.color_map("cluster", ["gamma", "alpha", "beta"], known)
    subset = palette.color_map("cluster", ["gamma"], known)
    assert subset["gamma"] == full["gamma"]
    assert len(set(full.values())) == 3
    other = palette.color_map("user", ["u1", "(other)"], [])
    assert other["(other)"] == palette.SPECIAL["(other)"]


@pytest.mark.parametrize(
    "grain, periods, partial",
    [
        ("day", [D(2026, 3, 30), D(2026, 3, 31)], {D(2026, 3, 31)}),  # today is partial
        ("week", [D(2026, 3, 2), D(2026, 3, 23), D(2026, 3, 30)], {D(2026, 3, 2), D(2026, 3, 30)}),  # cut by range
        ("month", [D(2026, 2, 1), D(2026, 3, 1)], {D(2026, 3, 1)}),  # the current month
    ],
)
def test_partial_periods(grain, periods, partial):
    got = charts.partial_periods(
        periods,
        grain,
        start=D(2026, 2, 1) if grain == "month" else D(2026, 3, 4),
        end=D(2026, 3, 31),
        today=D(2026, 3, 31),
    )
    assert got == partial


def test_time_figure_dates_only_and_line_not_dragged_by_today():
    df = pd.DataFrame(
        {"period": pd.to_datetime(["2026-03-30", "2026-03-31"]), "pct": [80.0, 2.0], "cluster": ["alpha", "alpha"]}
    )
    fig, partial = charts.time_figure(
        df,
        y="pct",
        title="t",
        labels={},
        color="cluster",
        color_dim="cluster",
        known=["alpha"],
        kind="line",
        grain="day",
        start=D(2026, 3, 30),
        end=D(2026, 3, 31),
        today=D(2026, 3, 31),
    )
    assert partial == {D(2026, 3, 31)}
    line, marker = fig.data
    assert list(line.y) == [80.0, None] and list(marker.y) == [2.0] and marker.marker.symbol == "circle-open"
    assert fig.layout.xaxis.tickformat == "%Y-%m-%d" and fig.layout.xaxis.dtick == charts.DAY_MS


def test_counts_export_as_integers_and_headers_are_human():
    df = pd.DataFrame({"jobs": [7954.0, None], "cpu_hours": [1.0, 2.5], "user": ["u1", None]})
    assert formats.with_counts(df).to_csv(index=False).splitlines()[1].startswith("7954,")
    assert formats.header("cpu_hours") == "CPU-hours" and formats.header("mean_wait_h") == "Mean wait (h)"
    assert formats.number_format("jobs", df["jobs"]) == "%,d"
    assert formats.number_format("cpu_hours", df["cpu_hours"]) == "%,.1f"
    assert formats.styled(df)["user"].tolist() == ["u1", formats.NA]


def test_a_click_on_any_trace_of_an_entity_names_that_entity():
    """Drill-down from a chart: the selected point's trace (a line, its partial-period marker, a bar) -> entity."""
    from streamlit_app import ui

    df = pd.DataFrame(
        {
            "period": pd.to_datetime(["2026-03-30", "2026-03-31"] * 2),
            "pct": [80.0, 2.0, 50.0, 1.0],
            "cluster": ["alpha", "alpha", "beta", "beta"],
        }
    )
    fig, _ = charts.time_figure(
        df, y="pct", title="t", labels={}, color="cluster", color_dim="cluster", known=["alpha", "beta"],
        kind="line", grain="day", start=D(2026, 3, 30), end=D(2026, 3, 31), today=D(2026, 3, 31),
    )  # fmt: skip
    names = [ui.clicked(fig, {"selection": {"points": [{"curve_number": i}]}}) for i in range(len(fig.data))]
    assert names == ["alpha", "beta", "alpha", "beta"]  # two lines, then their partial markers
    assert ui.clicked(fig, {"selection": {"points": []}}) is None
    assert ui.clicked(fig, {"selection": {"points": [{"curve_number": 9}]}}) is None
    assert ui.clicked(fig, None) is None
