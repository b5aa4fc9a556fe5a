"""Protects the dashboard's login and scoping as a person meets them: a real OIDC provider
(``oidc-provider-mock``, in this process on a free loopback port), ``streamlit run`` with ``[auth]``
in a secrets file, and Debian's chromium driven by Playwright.

* not logged in: a login button and no data on any page;
* user u01: only their own jobs on every page, also when the URL names another user or account;
* coordinator u05 (acc-b and its sub-account acc-c on alpha and beta, from ``associations``): exactly
  those accounts' jobs and their own;
* admin (by the IdP group claim): everything.
The Overview's job count and the Jobs page's CSV equal direct SQL over the same scope.
"""

import csv
import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from slurm_assets_tests.ports import free_port
from slurm_assets_tests.streamlit_app.conftest import APP, CHROMIUM
from slurm_assets_tests.streamlit_app.synthetic import USERS

pytestmark = pytest.mark.browser
PAGES = ("", "usage", "explorer", "utilization", "users_accounts", "gpus", "queue", "efficiency", "jobs", "data_status")
LOGINS = {
    "user-sub": {"preferred_username": "u01"},
    "pi-sub": {"preferred_username": "u05"},
    "ops-sub": {"preferred_username": "ops", "groups": ["hpc-staff"]},
}
COORD_PAIRS = {("alpha", "acc-b"), ("alpha", "acc-c"), ("beta", "acc-b"), ("beta", "acc-c")}


def _require_chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing under CI=true: install Debian's chromium (see .ci/run)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def oidc(monkeypatch_module):
    """A real OIDC provider on 127.0.0.1 with the three logins (the browser picks one on its form)."""
    import werkzeug.serving
    from oidc_provider_mock import User, app

    monkeypatch_module.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback, in this test only
    users = [User(sub=sub, claims=claims) for sub, claims in LOGINS.items()]
    server = werkzeug.serving.make_server("127.0.0.1", free_port(), app(user_claims=users), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def server(warehouse, oidc, tmp_path_factory):
    """``streamlit run`` with [auth] pointing at the provider; stopped at the end."""
    _require_chromium()
    port, folder = free_port(), tmp_path_factory.mktemp("login")
    url = f"http://127.0.0.1:{port}"
    secrets = folder / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "{url}/oauth2callback"\n'
        'cookie_secret = "test-cookie-secret-0123456789abcdef"\n'
        'client_id = "slurm-usage-dashboard"\n'
        'client_secret = "test-client-secret"\n'
        f'server_metadata_url = "{oidc}/.well-known/openid-configuration"\n'
    )
    audit = folder / "audit.jsonl"
    env = os.environ | {
        "SLURM_USAGE_DATA_DIR": str(warehouse.root),
        "AUTHLIB_INSECURE_TRANSPORT": "1",
        "SLURM_USAGE_DASHBOARD_ADMIN_GROUP": "hpc-staff",
        "SLURM_USAGE_DASHBOARD_AUDIT_LOG": str(audit),
    }
    log = folder / "server.log"
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
                "--secrets.files",
                str(secrets),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=APP.parents[1],
        )
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
        yield url, audit
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _settled(page) -> None:
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
        " === 'notRunning' && !document.querySelector('[data-testid=\"stSkeleton\"]')",
        timeout=60_000,
    )


def _login(browser, url: str, sub: str):
    context = browser.new_context(viewport={"width": 1400, "height": 2000}, accept_downloads=True)
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name=sub, exact=True).click()  # the provider's form: one button per user
    page.get_by_text("Logged in as").wait_for(timeout=60_000)
    _settled(page)
    return context, page


def _scope_sql(who: str) -> tuple[str, list]:
    if who == "admin":
        return "true", []
    if who == "u01":
        return '"user" = ?', ["u01"]
    pairs = sorted(COORD_PAIRS)
    return (
        '("user" = ? OR ' + " OR ".join("(cluster = ? AND account = ?)" for _ in pairs) + ")",
        ["u05"] + [x for p in pairs for x in p],
    )


def _jobs_csv(page) -> list[dict]:
    """The Jobs page's full export (every matching job, not only the page shown)."""
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="matching jobs (CSV)").click()
    return list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))


def test_not_logged_in_sees_a_login_button_and_no_data(server, browser):
    url, _audit = server
    context = browser.new_context()
    page = context.new_page()
    for path in PAGES:
        page.goto(f"{url}/{path}?range=all&user=u03")
        page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
        _settled(page)
        assert page.get_by_test_id("stMetric").count() == 0
        assert page.get_by_test_id("stDataFrame").count() == 0 and page.get_by_test_id("stPlotlyChart").count() == 0
        text = page.locator("body").inner_text()
        assert not any(u in text for u in USERS) and "acc-" not in text, path
    context.close()


@pytest.mark.parametrize(("who", "sub"), [("u01", "user-sub"), ("u05", "pi-sub"), ("admin", "ops-sub")])
def test_each_role_sees_exactly_its_scope(server, browser, warehouse, who, sub):
    url, audit = server
    context, page = _login(browser, url, sub)
    cond, params = _scope_sql(who)
    jobs = warehouse.one(f"SELECT count(*) FROM jobs WHERE {cond}", params)
    others = sorted(u for u in USERS if u != who)
    # The URL names another user and account: a user still sees only their own jobs.
    query = "?range=all" + (f"&user={others[0]}&account={USERS[others[0]]}" if who == "u01" else "")
    page.goto(f"{url}/{query}")
    _settled(page)
    # The Overview's job count is the scope's (for u01 the other user is not an option: ignored).
    page.get_by_test_id("stMetricValue").first.filter(has_text=f"{jobs:,}").wait_for(timeout=30_000)
    for path in PAGES:
        page.goto(f"{url}/{path}{query}")
        _settled(page)
        assert page.locator('[data-testid="stException"]').count() == 0, path
        if who == "u01":  # (the sidebar's "Ignored filter values" echoes the URL's own words: not data)
            text = "\n".join(x for x in page.locator("body").inner_text().splitlines() if "Ignored filter" not in x)
            leaked = [u for u in others if u in text]
            assert not leaked, f"{path}: {leaked}"
    page.goto(f"{url}/jobs{query}")
    _settled(page)
    rows = _jobs_csv(page)
    assert len(rows) == jobs > 100  # every job of the scope (more than one page), nothing else
    if who == "u01":
        assert {r["user"] for r in rows} == {"u01"}
    elif who == "u05":
        assert {(r["cluster"], r["account"]) for r in rows if r["user"] != "u05"} <= COORD_PAIRS
        assert {r["user"] for r in rows} - {"u05"}
    context.close()
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    login = [x for x in lines if x["event"] == "login" and x["sub"] == sub][-1]
    assert login["role"] == {"u01": "user", "u05": "coordinator", "admin": "admin"}[who]
    assert any(x["event"] == "export" for x in lines)
