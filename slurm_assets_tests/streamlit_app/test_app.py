"""Protects the dashboard as a person sees it: `streamlit run` + headless Chromium over every page.

Starts the real server on a free loopback port against the synthetic warehouse,
opens each page in Debian's chromium (Playwright drives it; no browser is ever
downloaded), switches a sidebar filter, and saves screenshots to
test-artifacts/screenshots/. No page may show exception text.
"""

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from slurm_assets_tests.streamlit_app.conftest import APP, CHROMIUM
from slurm_assets_tests.ports import free_port as _free_port

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


@contextlib.contextmanager
def streamlit_server(root: Path, log: Path, **env):
    """`streamlit run` of the dashboard over ``root`` on a free loopback port: yields its URL, stops it after."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing under CI=true: install Debian's chromium (see .ci/run)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    port = _free_port()
    env = os.environ | {"SLURM_USAGE_DATA_DIR": str(root)} | env
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(APP),
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=APP.parents[1],
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start on {url}: {log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
