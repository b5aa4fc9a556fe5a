"""Protects drill-down and freshness in a real browser: ranking -> the entity's view, job row -> job page,
and an open tab that learns of a newer data version (headless Debian chromium driven by Playwright).
"""

import shutil

import pytest

from slurm_assets_tests.streamlit_app.conftest import streamlit_server
from slurm_assets_tests.streamlit_app.test_app import _assert_no_exception, _settle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def copy(warehouse, tmp_path_factory):
    """A private copy of the warehouse (the freshness test adds a file to it)."""
    root = tmp_path_factory.mktemp("drill") / "wh"
    shutil.copytree(warehouse.root, root)
    return root


@pytest.fixture(scope="module")
def server(copy, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drill-server")
    with streamlit_server(
        copy,
        tmp / "server.log",
        SLURM_USAGE_DASHBOARD_VERSION_CHECK_S="1",
        SLURM_USAGE_DASHBOARD_CACHE_DIR=str(tmp / "cache"),
    ) as url:
        yield url


def _click_first_link_cell(page, frame_index: int = 0):
    """Click the first body cell of a dataframe's first column (the drill-down link; the grid is a canvas)."""
    grid = page.locator('[data-testid="stDataFrame"]').nth(frame_index)
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.move(box["x"] + 30, box["y"] + 35 + 17)
    page.mouse.click(box["x"] + 30, box["y"] + 35 + 17)


QUERY = "?range=custom&start=2026-02-01&end=2026-03-31&grain=week"


def test_ranking_user_opens_that_users_view(server, browser, warehouse):
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.goto(f"{server}/users_accounts{QUERY}")
    _settle(page, "Users & accounts")
    top = warehouse.sql("""SELECT "user", sum(cpu_hours) AS h FROM usage_daily WHERE date BETWEEN '2026-02-01'
                           AND '2026-03-31' GROUP BY 1 ORDER BY h DESC, 1 LIMIT 1""").iloc[0]["user"]
    with page.context.expect_page(timeout=30_000) as opened:
        _click_first_link_cell(page)
    view = opened.value
    view.wait_for_url(f"**/overview?**user={top}**", timeout=30_000)
    _settle(view, "Overview")
    _assert_no_exception(view, f"Overview of {top}")
    jobs = warehouse.one(
        "SELECT count(*) FROM jobs WHERE \"user\" = ? AND end_date BETWEEN '2026-02-01' AND '2026-03-31'", [top]
    )
    view.get_by_test_id("stMetricValue").first.filter(has_text=f"{jobs:,}").wait_for(timeout=30_000)
    assert "start=2026-02-01" in view.url  # the period travels with the drill-down
    page.close()
    view.close()


def _drill_from_chart(page, chart_title: str, what: str, trace: int = 0):
    """Click the first bar of trace ``trace`` in the chart titled ``chart_title``, then the link to that entity's
    view that appears under the chart; return the page showing that view (links open a new tab)."""
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text=chart_title).first
    chart.scroll_into_view_if_needed()
    bar = chart.locator("g.trace.bars").nth(trace).locator("g.point path").first
    box = bar.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    link = page.get_by_role("link", name=f"Open the view of {what}")
    link.wait_for(timeout=60_000)
    with page.context.expect_page(timeout=30_000) as opened:
        link.click()
    return opened.value


def test_ranking_chart_bar_opens_that_users_view(server, browser, warehouse):
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.goto(f"{server}/users_accounts{QUERY}")
    _settle(page, "Users & accounts")
    top = warehouse.sql("""SELECT "user", sum(cpu_hours) AS h FROM usage_daily WHERE date BETWEEN '2026-02-01'
                           AND '2026-03-31' GROUP BY 1 ORDER BY h DESC, 1 LIMIT 1""").iloc[0]["user"]
    view = _drill_from_chart(page, "Top users by CPU-hours", f"user {top}")  # the top user's bar comes first
    view.wait_for_url(f"**/overview?**user={top}**", timeout=30_000)
    _settle(view, "Overview")
    _assert_no_exception(view, f"Overview of {top} from the chart")
    jobs = warehouse.one(
        "SELECT count(*) FROM jobs WHERE \"user\" = ? AND end_date BETWEEN '2026-02-01' AND '2026-03-31'", [top]
    )
    view.get_by_test_id("stMetricValue").first.filter(has_text=f"{jobs:,}").wait_for(timeout=60_000)
    assert "start=2026-02-01" in view.url and "grain=week" in view.url  # the period travels with it
    page.close()
    view.close()


def test_time_chart_segment_opens_that_clusters_view(server, browser, warehouse):
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.goto(f"{server}/{QUERY}")
    _settle(page, "Overview")
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="CPU-hours per week by cluster").first
    name = chart.locator("g.legend g.traces").first.text_content().strip()  # the legend's first entry: trace 0
    view = _drill_from_chart(page, "CPU-hours per week by cluster", f"cluster {name}")
    view.wait_for_url(f"**/overview?**cluster={name}**", timeout=30_000)
    _settle(view, "Overview")
    _assert_no_exception(view, f"Overview of cluster {name} from the chart")
    jobs = warehouse.one(
        "SELECT count(*) FROM jobs WHERE cluster = ? AND end_date BETWEEN '2026-02-01' AND '2026-03-31'", [name]
    )
    view.get_by_test_id("stMetricValue").first.filter(has_text=f"{jobs:,}").wait_for(timeout=60_000)
    page.close()
    view.close()


def test_job_row_opens_its_job_page(server, browser, warehouse):
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.goto(f"{server}/jobs{QUERY}")
    _settle(page, "Jobs")
    first = warehouse.sql("""SELECT cluster, job_id_raw, job_id FROM jobs
                             WHERE end_date BETWEEN '2026-02-01' AND '2026-03-31'
                             ORDER BY end_time DESC NULLS LAST, cluster, job_id_raw, submit_time LIMIT 1""").iloc[0]
    with page.context.expect_page(timeout=30_000) as opened:
        _click_first_link_cell(page)
    job = opened.value
    job.wait_for_url(f"**/job?job={first.cluster}/{first.job_id_raw}**", timeout=30_000)
    _settle(job, f"Job {first.job_id_raw} on {first.cluster}")
    _assert_no_exception(job, "job page")
    text = job.locator("body").inner_text()
    for label in ("CPU efficiency (%)", "Memory efficiency (%)", "Wait (h)", "Elapsed (h)", "Times (UTC)", "Steps"):
        assert label in text, label
    page.close()
    job.close()


def test_open_tab_learns_of_a_newer_data_version(server, browser, copy):
    import os

    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(f"{server}/{QUERY}")
    _settle(page, "Overview")
    assert page.get_by_text("Newer data is available").count() == 0
    changed = next(copy.glob("warehouse/usage_daily/**/*.parquet"))
    os.utime(changed)  # now: the newest file, as after a materialization
    page.get_by_text("Newer data is available").wait_for(timeout=60_000)
    page.get_by_role("button", name="Refresh").click()
    page.get_by_text("Newer data is available").wait_for(state="detached", timeout=60_000)
    _assert_no_exception(page, "Overview after refresh")
    page.close()


def test_csv_download_is_named_after_the_period_with_whole_counts(server, browser, warehouse):
    """Issue 17 polish: a chart's CSV is named after the table and the period; job counts are integers."""
    import csv
    import io
    from pathlib import Path

    page = browser.new_page(viewport={"width": 1400, "height": 2000}, accept_downloads=True)
    page.goto(f"{server}/users_accounts{QUERY}&rank=jobs")
    _settle(page, "Users & accounts")
    page.get_by_text("Data: Top users by Jobs").first.click()
    button = page.get_by_role("button", name="Download CSV").first
    button.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as info:
        button.click()
    download = info.value
    assert download.suggested_filename == "top-users-by-jobs-2026-02-01_2026-03-31.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    expected = warehouse.sql("""SELECT "user", sum(jobs_ended) AS jobs FROM usage_daily
                                WHERE date BETWEEN '2026-02-01' AND '2026-03-31' GROUP BY 1""")
    assert {r["user"]: r["jobs"] for r in rows} == {u: str(int(j)) for u, j in zip(expected.user, expected.jobs)}
    page.close()
