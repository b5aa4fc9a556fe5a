"""Protects the dashboard as a person sees it: `streamlit run` + headless Chromium over every page.

Starts the real server on a free loopback port against the synthetic warehouse,
opens each page in Debian's chromium (Playwright drives it; no browser is ever
downloaded), switches a sidebar filter, and saves screenshots to
test-artifacts/screenshots/. No page may show exception text.
"""

from pathlib import Path

import pytest

from slurm_assets_tests.streamlit_app.conftest import streamlit_server

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PAGES = {
    "": "Overview",
    "usage": "Usage",
    "explorer": "Explorer",
    "utilization": "Utilization",
    "users_accounts": "Users & accounts",
    "gpus": "GPUs",
    "queue": "Queue",
    "efficiency": "Efficiency",
    "jobs": "Jobs",
    "data_status": "Data status",
}
QUERY = "?range=all&grain=week"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(warehouse, tmp_path_factory):
    with streamlit_server(warehouse.root, tmp_path_factory.mktemp("streamlit") / "server.log") as url:
        yield url


def _settle(page, title: str) -> None:
    """Wait until the page's title is drawn, the script run finished and the charts are drawn."""
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=60_000)
    page.wait_for_function(  # the app root reports the script run state (running, notRunning, ...)
        "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
        " === 'notRunning' && [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
        ".every(e => e.querySelector('svg.main-svg'))"  # and every chart has drawn
        " && !document.querySelector('[data-testid=\"stSkeleton\"]')",  # no placeholder left (charts still to come)
        timeout=60_000,
    )


def _assert_no_exception(page, where: str) -> None:
    text = page.locator("body").inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0, f"{where}: exception element"
    for word in ("Traceback", "Error"):
        assert word not in text, f"{where}: {word!r} shown:\n{text[:2000]}"


def test_every_page_renders_and_filters_switch(server, browser, warehouse):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    for path, title in PAGES.items():
        page.goto(f"{server}/{path}{QUERY}")
        _settle(page, title)
        _assert_no_exception(page, title)
        page.screenshot(path=str(SHOTS / f"{path or 'overview'}.png"), full_page=True)

    # The Overview also answers at /overview (not "Page not found").
    page.goto(f"{server}/overview{QUERY}")
    _settle(page, "Overview")
    assert "Page not found" not in page.locator("body").inner_text()

    # Switch a filter on the Overview: the URL keeps it and the KPI follows it.
    page.goto(f"{server}/{QUERY}")
    _settle(page, "Overview")
    cluster = page.locator('[data-testid="stMultiSelect"]').first
    cluster.click()
    page.get_by_role("option", name="beta", exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_url("**cluster=beta**", timeout=30_000)
    _settle(page, "Overview")
    jobs = warehouse.one("SELECT count(*) FROM jobs WHERE cluster = 'beta'")
    page.get_by_test_id("stMetricValue").first.filter(has_text=f"{jobs:,}").wait_for(timeout=30_000)
    _assert_no_exception(page, "Overview filtered to beta")
    page.screenshot(path=str(SHOTS / "overview-cluster-beta.png"), full_page=True)

    # The filter survives a page switch through the sidebar navigation.
    page.get_by_role("link", name="Jobs").first.click()
    _settle(page, "Jobs")
    page.wait_for_url("**cluster=beta**", timeout=30_000)
    _assert_no_exception(page, "Jobs filtered to beta")
    page.screenshot(path=str(SHOTS / "jobs-cluster-beta.png"), full_page=True)
    page.close()
