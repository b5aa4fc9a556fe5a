"""Protects the dashboard's scoping where data is read: every query of ``streamlit_app.data`` is limited to
the viewer's scope in SQL, so a filter (or URL) naming another user or account shows nothing of it.

Roles come from the synthetic warehouse's ``associations`` (synthetic.py: u05 coordinates acc-b, whose
sub-account is acc-c, on alpha and beta; u07 only in an older snapshot). Each figure is compared with
direct SQL over the same Parquet files and the same scope.
"""

import dataclasses
import io

import pandas as pd
import pytest

from slurm_assets_tests.streamlit_app.synthetic import USERS
from streamlit_app import data
from streamlit_app.data.scope import people_condition

COORD_PAIRS = {("alpha", "acc-b"), ("alpha", "acc-c"), ("beta", "acc-b"), ("beta", "acc-c")}


def _f(wh, scope, **kw) -> data.Filters:
    return dataclasses.replace(data.Filters(start=wh.first, end=wh.last, scope=scope), **kw)


def _direct_where(scope: data.Scope) -> tuple[str, list]:
    """The scope as plain SQL, written independently of people_condition."""
    if scope.is_admin:
        return "true", []
    ors = ['"user" = ?'] + ["(cluster = ? AND account = ?)" for _ in scope.accounts]
    return "(" + " OR ".join(ors) + ")", [scope.user] + [x for pair in scope.accounts for x in pair]


def test_roles_come_from_the_latest_associations(app_data):
    coord = data.viewer_scope("u05", admin=False, site_totals=False)
    assert (coord.role, set(coord.accounts)) == ("coordinator", COORD_PAIRS)  # sub-account included, per cluster
    assert data.viewer_scope("u07", admin=False, site_totals=False).role == "user"  # older snapshot only
    assert data.viewer_scope("u01", admin=False, site_totals=True) == data.Scope("user", "u01", (), True)
    assert data.viewer_scope("u01", admin=True, site_totals=False).is_admin
    assert data.viewer_scope(None, admin=False, site_totals=True) == data.NOBODY_SCOPE


@pytest.mark.parametrize("who", ["u01", "u05", "admin"])
def test_figures_equal_direct_sql_over_the_scope(app_data, who):
    wh = app_data
    scope = data.ADMIN_SCOPE if who == "admin" else data.viewer_scope(who, admin=False, site_totals=False)
    cond, params = _direct_where(scope)
    f = _f(wh, scope)
    days = [wh.first, wh.last]
    k = data.kpis(f)
    assert k["cpu_hours"] == pytest.approx(
        wh.one(
            f"SELECT coalesce(sum(cpu_hours), 0) FROM usage_daily WHERE {cond} AND date BETWEEN ? AND ?", params + days
        )
    )
    jobs = wh.one(f"SELECT count(*) FROM jobs WHERE {cond} AND end_date BETWEEN ? AND ?", params + days)
    assert k["jobs"] == data.jobs_count(f) == jobs > 0
    page = data.jobs_page(f, page_size=10_000)
    assert len(page) == jobs
    export = pd.read_csv(io.BytesIO(data.jobs_csv(f)))  # the Jobs page's full export, in the page's order
    assert len(export) == jobs and export["job_id_raw"].tolist() == page["job_id_raw"].tolist()
    users = set(page["user"])
    if who == "u01":
        assert users == {"u01"}
    elif who == "u05":
        assert {(c, a) for c, a, u in zip(page["cluster"], page["account"], page["user"]) if u != "u05"} <= COORD_PAIRS
        assert "u05" in users and len(users) > 1
    options = data.filter_options(scope)
    expected_users = wh.sql(f'SELECT DISTINCT "user" FROM usage_daily WHERE {cond} ORDER BY 1', params)["user"]
    assert options["user"] == expected_users.tolist()
    shares = data.usage_shares(f, "account")
    assert shares["cpu_hours"].sum() == pytest.approx(k["cpu_hours"])
    gpu = data.gpu_by_partition(f)["gpu_hours"].sum()
    assert gpu == pytest.approx(
        wh.one(
            f"SELECT coalesce(sum(gpu_hours), 0) FROM gpu_usage_daily WHERE {cond} AND date BETWEEN ? AND ?",
            params + days,
        )
    )
    eff = data.efficiency_summary(f)
    assert eff["jobs"] == jobs
    running = data.running_now(f)["jobs"].sum()
    assert running == wh.one(f"SELECT count(*) FROM running_jobs WHERE {cond}", params)
    top = data.top_entities(f, "user", limit=100)
    assert set(top["user"]) <= set(options["user"])


def test_a_filter_naming_someone_else_shows_nothing(app_data):
    wh = app_data
    me = data.viewer_scope("u01", admin=False, site_totals=False)
    other = next(u for u in USERS if u != "u01" and USERS[u] != USERS["u01"])
    for f in (_f(wh, me, users=(other,)), _f(wh, me, accounts=(USERS[other],))):
        assert data.kpis(f)["jobs"] == 0 and data.kpis(f)["cpu_hours"] == 0
        assert data.jobs_page(f).empty and data.jobs_count(f) == 0 and data.jobs_count(f, other) == 0
        assert data.breakdown(f, "usage", "cpu_hours", "user").empty
        assert data.top_entities(f, "user").empty and data.efficiency_by(f, "user").empty
    # Not logged in (the default scope): nothing at all, anywhere.
    nobody = data.Filters(start=wh.first, end=wh.last)
    assert data.kpis(nobody)["jobs"] == 0 and data.jobs_page(nobody).empty
    assert data.filter_options(data.NOBODY_SCOPE)["user"] == []
    assert people_condition(data.NOBODY_SCOPE) == ("false", ())


def test_quarantine_is_for_admins_and_site_totals_need_the_setting(app_data):
    wh = app_data
    me = data.viewer_scope("u01", admin=False, site_totals=False)
    assert data.quarantine_rows(_f(wh, me)).empty and data.quarantine_summary(_f(wh, me)).empty
    assert data.quarantined_drops(_f(wh, me)).empty
    assert not data.quarantine_rows(_f(wh, data.ADMIN_SCOPE)).empty
    assert data.cluster_status(_f(wh, me))["quarantined_rows"].sum() == 0
    assert data.site_kpis(_f(wh, me)) is None
    allowed = dataclasses.replace(me, site_totals=True)
    site = data.site_kpis(_f(wh, allowed, users=("u01",)))
    assert site == data.kpis(_f(wh, data.ADMIN_SCOPE))  # cluster-wide, whatever user filter the URL holds
    assert site["cpu_hours"] > data.kpis(_f(wh, allowed))["cpu_hours"]
