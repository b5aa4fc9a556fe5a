"""Protects the dashboard's login and scoping as a person meets them: a real OIDC provider
(``oidc-provider-mock``, in this process on a free loopback port), ``streamlit run`` with ``[auth]``
in a secrets file, and Debian's chromium driven by Playwright.

* not logged in: a login button and no data on any page;
* user u01: only their own jobs on every page, also when the URL names another user or account;
* coordinator u05 (acc-b and its sub-account acc-c on alpha and beta, from ``associations``): exactly
  those accounts' jobs and their own;
* admin (by the IdP group claim): everything;
on every page (the Job and Reports pages included): every CSV the page offers holds only rows of the
viewer's scope, and its usage over time sums to the scope's CPU-hours (direct SQL); the Overview's job
count and the Jobs page's full export equal direct SQL; a job page opened by URL shows a job only
within the scope; a new associations snapshot changes a viewer's role within an open session; the
audit log's address believes X-Forwarded-For only from the configured proxy (loopback here).
"""

import csv
import datetime as dt
import io
import json
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from slurm_assets.reports import monthly
from slurm_assets_tests.ports import free_port
from slurm_assets_tests.streamlit_app import login_checks as lc
from slurm_assets_tests.streamlit_app.conftest import Warehouse, streamlit_server
from slurm_assets_tests.streamlit_app.synthetic import USERS, _write_associations

pytestmark = pytest.mark.browser
# Every page of the menu (app.py PAGES) and the job page reached from the Jobs table.
PAGES = (
    "",
    "usage",
    "explorer",
    "utilization",
    "users_accounts",
    "gpus",
    "queue",
    "efficiency",
    "jobs",
    "reports",
    "data_status",
)
LOGINS = {
    "user-sub": {"preferred_username": "u01"},
    "pi-sub": {"preferred_username": "u05"},
    "ops-sub": {"preferred_username": "ops", "groups": ["hpc-staff"]},
    "u07-sub": {"preferred_username": "u07"},
}
COORD_PAIRS = lc.COORD_PAIRS
MONTHS = ("2026-02", "2026-03")
FORWARDED = "6.6.6.6, 203.0.113.7"  # the client wrote 6.6.6.6; the proxy appended 203.0.113.7


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
def login_wh(warehouse, tmp_path_factory) -> Warehouse:
    """This module's copy of the synthetic warehouse (it adds an associations snapshot), with monthly reports."""
    root = tmp_path_factory.mktemp("login-wh") / "data"
    shutil.copytree(warehouse.root, root)
    for month in MONTHS:
        monthly.write_reports(root, month)
    return Warehouse(root, warehouse.first, warehouse.last)


@pytest.fixture(scope="module")
def server(login_wh, oidc, tmp_path_factory):
    """``streamlit run`` with [auth] pointing at the provider; stopped at the end."""
    port, folder = free_port(), tmp_path_factory.mktemp("login")
    secrets = folder / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "test-cookie-secret-0123456789abcdef"\n'
        'client_id = "slurm-usage-dashboard"\n'
        'client_secret = "test-client-secret"\n'
        f'server_metadata_url = "{oidc}/.well-known/openid-configuration"\n'
    )
    audit = folder / "audit.jsonl"
    with streamlit_server(
        login_wh.root,
        folder / "server.log",
        port=port,
        secrets=secrets,
        AUTHLIB_INSECURE_TRANSPORT="1",
        SLURM_USAGE_DASHBOARD_ADMIN_GROUP="hpc-staff",
        SLURM_USAGE_DASHBOARD_AUDIT_LOG=str(audit),
        # the documented proxy setup (docs/DASHBOARD.md): only loopback's X-Forwarded-For
        FORWARDED_ALLOW_IPS="",
        SLURM_USAGE_DASHBOARD_TRUSTED_PROXIES="127.0.0.1",
    ) as url:
        yield url, audit


def _login(browser, url: str, sub: str, headers: dict | None = None):
    context = browser.new_context(
        viewport={"width": 1400, "height": 2000}, accept_downloads=True, extra_http_headers=headers or {}
    )
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name=sub, exact=True).click()  # the provider's form: one button per user
    page.get_by_text("Logged in as").wait_for(timeout=60_000)
    lc.settled(page)
    return context, page


def _jobs_csv(page) -> list[dict]:
    """The Jobs page's full export (every matching job, not only the page shown)."""
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="matching jobs (CSV)").click()
    return list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))


def _audit(audit: Path) -> list[dict]:
    return [json.loads(x) for x in audit.read_text().splitlines()]


def test_not_logged_in_sees_a_login_button_and_no_data(server, browser):
    url, _audit = server
    context = browser.new_context()
    page = context.new_page()
    for path in (*PAGES, "job?job=alpha/1001&day=2026-03-30"):
        page.goto(f"{url}/{path}{'&' if '?' in path else '?'}range=all&user=u03")
        page.get_by_role("button", name="Log in").wait_for(timeout=60_000)
        lc.settled(page)
        assert page.get_by_test_id("stMetric").count() == 0
        assert page.get_by_test_id("stDataFrame").count() == 0 and page.get_by_test_id("stPlotlyChart").count() == 0
        assert page.get_by_role("button", name=re.compile("Download")).count() == 0
        text = page.locator("body").inner_text()
        assert not any(u in text for u in USERS) and "acc-" not in text, path
    context.close()


def _expected_reports(root: Path, who: str) -> set[tuple[str, str, str]]:
    """(month, cluster, account or '(whole cluster)') of the report files ``who`` may download."""
    out = set()
    for path in (root / "reports").glob("*/*/*.csv"):
        account = "(whole cluster)" if path.stem == monthly.file_stem(None) else path.stem[len("account-") :]
        key = (path.parent.parent.name, path.parent.name, account)
        if who == "admin" or (who == "u05" and (key[1], account) in COORD_PAIRS):
            out.add(key)
    return out


@pytest.mark.parametrize(("who", "sub"), [("u01", "user-sub"), ("u05", "pi-sub"), ("admin", "ops-sub")])
def test_each_role_sees_exactly_its_scope(server, browser, login_wh, who, sub):
    url, audit = server
    headers = {"X-Forwarded-For": FORWARDED} if who == "admin" else None
    context, page = _login(browser, url, sub, headers)
    cond, params = lc.scope_sql(who)
    scope = lc.allowed(login_wh, who)
    jobs = login_wh.one(f"SELECT count(*) FROM jobs WHERE {cond}", params)
    others = sorted(u for u in USERS if u != who and (scope.users is None or u not in scope.users))
    # The URL names another user and account: a user or coordinator still sees only their scope.
    query = "?range=all" + (f"&user={others[0]}&account={USERS[others[0]]}" if who != "admin" else "")
    page.goto(f"{url}/{query}")
    lc.settled(page)
    # The Overview's job count is the scope's (the other user is not an option: ignored).
    page.get_by_test_id("stMetricValue").first.filter(has_text=f"{jobs:,}").wait_for(timeout=30_000)
    figures_checked = []
    for path in PAGES:
        page.goto(f"{url}/{path}{query}")
        lc.settled(page)
        assert page.locator('[data-testid="stException"]').count() == 0, path
        if who != "admin":  # (the sidebar's "Ignored filter values" echoes the URL's own words: not data)
            text = "\n".join(x for x in page.locator("body").inner_text().splitlines() if "Ignored filter" not in x)
            leaked = [u for u in others if u in text]
            assert not leaked, f"{path}: {leaked}"
        for name, rows in lc.page_csvs(page).items():
            lc.check_csv(f"{path}: {name}", rows, scope)
            total = lc.usage_total(name, rows)
            if total is not None:  # usage over time: the scope's CPU-hours, all of them
                assert total == pytest.approx(scope.cpu_hours, rel=1e-9), (path, name)
                figures_checked.append(f"{path or 'overview'}/{name}")
            counted = lc.jobs_total(name, rows)
            if counted is not None:  # a distribution of every job: the scope's job count
                assert counted == jobs, (path, name)
                figures_checked.append(f"{path}/{name}")
            if name.startswith("monthly-reports"):
                shown = {(r["month"], r["cluster"], r["account"]) for r in rows}
                assert shown == _expected_reports(login_wh.root, who), path
    assert any(x.startswith("overview/") for x in figures_checked), figures_checked
    assert sum(x.startswith("queue/") for x in figures_checked) == len(lc.JOB_BUCKETS), figures_checked
    page.goto(f"{url}/reports{query}")
    lc.settled(page)
    if who == "u01":  # no account coordinated, no site totals: no report
        assert page.get_by_text("No report you may see yet").count() == 1
    else:
        with page.expect_download(timeout=60_000) as info:
            page.get_by_role("button", name="Download PDF").click()
        assert Path(info.value.path()).read_bytes()[:5] == b"%PDF-"
    page.goto(f"{url}/jobs{query}")
    lc.settled(page)
    rows = _jobs_csv(page)
    assert len(rows) == jobs > 100  # every job of the scope (more than one page), nothing else
    if who == "u01":
        assert {r["user"] for r in rows} == {"u01"}
    elif who == "u05":
        assert {(r["cluster"], r["account"]) for r in rows if r["user"] != "u05"} <= COORD_PAIRS
        assert {r["user"] for r in rows} - {"u05"}
    context.close()
    lines = _audit(audit)
    login = [x for x in lines if x["event"] == "login" and x["sub"] == sub][-1]
    assert login["role"] == {"u01": "user", "u05": "coordinator", "admin": "admin"}[who]
    # from the trusted proxy (loopback): the hop it appended, never the one the client wrote
    assert login["remote"] == ("203.0.113.7" if headers else "127.0.0.1")
    assert any(x["event"] == "export" and x["user"] == login["user"] for x in lines)


@pytest.mark.parametrize(("who", "sub"), [("u01", "user-sub"), ("u05", "pi-sub"), ("admin", "ops-sub")])
def test_a_job_page_opened_by_url_shows_only_jobs_of_the_scope(server, browser, login_wh, who, sub):
    url, _audit = server
    context, page = _login(browser, url, sub)
    jobs = {  # name -> (a job, visible to u01, to u05)
        "own u01": (lc.one_job(login_wh, "\"user\" = 'u01' AND cluster = 'alpha'", []), True, True),
        "u01 on gamma (acc-b not coordinated there)": (
            lc.one_job(login_wh, "\"user\" = 'u01' AND cluster = 'gamma'", []),
            True,
            False,
        ),
        "u03 in acc-d": (lc.one_job(login_wh, "\"user\" = 'u03'", []), False, False),
        "u06 in acc-b on beta": (lc.one_job(login_wh, "\"user\" = 'u06' AND cluster = 'beta'", []), False, True),
        "own u05": (lc.one_job(login_wh, "\"user\" = 'u05'", []), False, True),
    }
    for name, (job, for_u01, for_u05) in jobs.items():
        expected = {"u01": for_u01, "u05": for_u05, "admin": True}[who]
        assert lc.job_visible(page, url, job) == expected, (who, name, job)
    context.close()


def test_a_new_associations_snapshot_changes_the_role_within_the_session(server, browser, login_wh):
    """u07 coordinated acc-e in an older snapshot only: a user. A newer gamma snapshot makes them coordinator
    of acc-e there: the open session's scope follows at its next run (no new login), audited."""
    url, audit = server
    context, page = _login(browser, url, "u07-sub")
    page.get_by_text("(user)").first.wait_for(timeout=30_000)
    _write_associations(login_wh.root, "gamma", login_wh.last + dt.timedelta(days=1), {"acc-e": "u07"})
    try:
        deadline = time.monotonic() + 120
        while not page.get_by_text("(coordinator)").count():  # each rerun compares the data version
            assert time.monotonic() < deadline, page.locator("body").inner_text()[-2000:]
            page.get_by_role("link", name="Usage").first.click()  # navigation within the session
            lc.settled(page)
        assert "acc-e (gamma)" in page.locator("body").inner_text()
        logins = [x for x in _audit(audit) if x.get("sub") == "u07-sub"]
        assert [x["event"] for x in logins] == ["login", "scope_change"]
        assert logins[1]["role"] == "coordinator" and logins[1]["accounts"] == ["gamma/acc-e"]
    finally:
        context.close()
        for path in login_wh.root.glob(
            f"warehouse/associations/cluster=gamma/date={login_wh.last + dt.timedelta(days=1)}"
        ):
            shutil.rmtree(path)
