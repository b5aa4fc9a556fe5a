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
    at = open_app(
        warehouse,
        "overview",
        range="custom",
        start="2026-03-31",
        end="2026-03-02",
        grain="month",
        cluster=["alpha", "nosuch"],
        state="FAILED",
    )
    # swapped dates are put in order; unknown values are dropped with a warning, known ones kept
    assert (at.query_params["start"], at.query_params["end"]) == ("2026-03-02", "2026-03-31")
    assert at.query_params["cluster"] == "alpha" and at.query_params["state"] == "FAILED"
    assert at.query_params["grain"] == "month"
    assert any("cluster=nosuch" in w.value for w in at.warning)
    n = warehouse.one(
        "SELECT count(*) FROM jobs WHERE end_date BETWEEN '2026-03-02' AND '2026-03-31'"
        " AND cluster = 'alpha' AND state = 'FAILED'"
    )
    assert metrics(at)["Jobs"] == f"{n:,}"


def test_preset_in_url_wins_and_custom_dates_are_not_written(warehouse, open_app):
    at = open_app(warehouse, "overview", range="7d")
    assert at.query_params == {"range": "7d", "grain": "day"}
    assert at.selectbox(key="flt_range").value == "7d"


HOSTILE = [
    "[click](http://evil.example/x)",
    "![pixel](http://evil.example/p.png)",
    "<http://evil.example/a>",
    "http://evil.example/bare",
    "www.evil.example",
    ":red[**big**] :material/warning:",
    "`code`\n# heading",
]


def test_a_url_value_echoed_in_the_sidebar_warning_is_shown_literally(warehouse, open_app):
    # Issue 18: a URL value echoed into the warning rendered Markdown links and images.
    from markdown_it import MarkdownIt

    at = open_app(warehouse, "overview", user=HOSTILE)
    warning = next(w.value for w in at.warning if "Ignored filter values" in w.value)
    html = MarkdownIt("commonmark").render(warning)
    assert "<a " not in html and "<img" not in html and "<code>" not in html and "<h1>" not in html
    assert "<strong>" not in html
    for value in HOSTILE[:4]:  # the text itself is what the reader sees
        assert f"user={value}".replace("<", "&lt;").replace(">", "&gt;") in html.replace("&amp;", "&")
    # GFM autolink literals (Streamlit renders with remark-gfm) need an unbroken scheme or "www.".
    assert "http://" not in warning and "www." not in warning


def test_escape_markdown_keeps_the_text_and_bounds_its_length():
    from markdown_it import MarkdownIt

    text = "a_b*c [d](e) !f #g <h> ~i~ |j| $k$ :l: 1. m"
    rendered = MarkdownIt("commonmark").render(filters.escape_markdown(text)).strip()
    assert rendered == "<p>" + text.replace("<", "&lt;").replace(">", "&gt;") + "</p>"
    assert len(filters.escape_markdown("x" * 1000)) == 81


def test_a_custom_range_far_outside_the_data_is_clamped_and_the_overview_renders(warehouse, open_app):
    # Issue 18: ?range=custom&start=0001-01-01&end=9999-12-31 crashed the Overview with OverflowError.
    at = open_app(warehouse, "overview", range="custom", start="0001-01-01", end="9999-12-31")
    data_span = next(c.value for c in at.sidebar.caption if c.value.startswith("Data: "))
    assert data_span == f"Data: {at.query_params['start']} to {at.query_params['end']}"
    assert at.query_params["end"] == str(warehouse.last)
    n = warehouse.one("SELECT count(*) FROM jobs")
    assert metrics(at)["Jobs"] == f"{n:,}"


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (dt.date(1, 1, 1), dt.date(9999, 12, 31), (dt.date(2020, 1, 1), dt.date(2020, 2, 1))),  # overlaps: the data
        (dt.date(2020, 1, 10), dt.date(2020, 1, 20), (dt.date(2020, 1, 10), dt.date(2020, 1, 20))),  # inside: kept
        (dt.date(1, 1, 1), dt.date(1, 1, 5), (filters.EARLIEST, filters.EARLIEST)),  # wholly before: 1970
        (dt.date(2021, 1, 1), dt.date(9999, 1, 1), (dt.date(2021, 1, 1), TODAY)),  # after the data: up to today
    ],
)
def test_clamp_range(start, end, expected):
    assert filters.clamp_range(start, end, (dt.date(2020, 1, 1), dt.date(2020, 2, 1))) == expected
