"""Protects the sidebar filters: presets resolve to the right UTC days, the URL round-trips, bad values are reported."""

import datetime as dt

import pytest

from slurm_assets_tests.streamlit_app.helpers import metrics
from streamlit_app import filters

TODAY = filters.today()


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("7d", (TODAY - dt.timedelta(days=6), TODAY)),  # today included: 7 days
        ("30d", (TODAY - dt.timedelta(days=29), TODAY)),
        ("90d", (TODAY - dt.timedelta(days=89), TODAY)),
        ("ytd", (dt.date(TODAY.year, 1, 1), TODAY)),
        ("all", (dt.date(2020, 1, 1), dt.date(2020, 2, 1))),  # spans the data
    ],
)
def test_preset_range(preset, expected):
    assert filters.preset_range(preset, (dt.date(2020, 1, 1), dt.date(2020, 2, 1))) == expected


def test_all_on_empty_warehouse_falls_back_to_30_days():
    assert filters.preset_range("all", (None, None)) == (TODAY - dt.timedelta(days=29), TODAY)


def test_url_round_trip_and_unknown_values(warehouse, open_app):
    at = open_app(warehouse, "overview", range="custom", start="2026-03-31", end="2026-03-02", grain="month",
                  cluster=["alpha", "nosuch"], state="FAILED")
    # swapped dates are put in order; unknown values are dropped with a warning, known ones kept
    assert (at.query_params["start"], at.query_params["end"]) == ("2026-03-02", "2026-03-31")
    assert at.query_params["cluster"] == "alpha" and at.query_params["state"] == "FAILED"
    assert at.query_params["grain"] == "month"
    assert any("cluster=nosuch" in w.value for w in at.warning)
    n = warehouse.one("SELECT count(*) FROM jobs WHERE end_date BETWEEN '2026-03-02' AND '2026-03-31'"
                      " AND cluster = 'alpha' AND state = 'FAILED'")
    assert metrics(at)["Jobs"] == f"{n:,}"


def test_preset_in_url_wins_and_custom_dates_are_not_written(warehouse, open_app):
    at = open_app(warehouse, "overview", range="7d")
    assert at.query_params == {"range": "7d", "grain": "day"}
    assert at.selectbox(key="flt_range").value == "7d"
