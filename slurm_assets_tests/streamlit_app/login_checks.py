"""What the login browser tests read from a page (every CSV it offers, the job page) and the direct SQL they
compare it with: a viewer's scope as SQL over the same warehouse files."""

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

# synthetic.py: u05 coordinates acc-b on alpha and beta; acc-c is acc-b's sub-account.
COORD_PAIRS = {("alpha", "acc-b"), ("alpha", "acc-c"), ("beta", "acc-b"), ("beta", "acc-c")}
PLACEHOLDERS = {"", "(other)", "(none)", "(untyped)", "(whole cluster)"}  # groupings, not people
_CSV = re.compile(r"^Download CSV")


def scope_sql(who: str) -> tuple[str, list]:
    """(condition, params) of rows with cluster/account/user columns that ``who`` may see."""
    if who == "admin":
        return "true", []
    if who == "u01":
        return '"user" = ?', ["u01"]
    pairs = sorted(COORD_PAIRS)
    return (
        '("user" = ? OR ' + " OR ".join("(cluster = ? AND account = ?)" for _ in pairs) + ")",
        ["u05"] + [x for p in pairs for x in p],
    )


@dataclass
class Allowed:
    """The users, accounts and (cluster, account) pairs of a scope's rows (direct SQL); None: everything."""

    users: set | None
    accounts: set | None
    pairs: set | None
    cpu_hours: float


def allowed(warehouse, who: str) -> Allowed:
    cond, params = scope_sql(who)
    rows = warehouse.sql(
        f'SELECT DISTINCT cluster, account, "user" FROM usage_daily WHERE {cond} UNION '
        f'SELECT DISTINCT cluster, account, "user" FROM jobs WHERE {cond}',
        params * 2,
    )
    cpu = float(warehouse.one(f"SELECT sum(cpu_hours) FROM usage_daily WHERE {cond}", params))
    if who == "admin":
        return Allowed(None, None, None, cpu)
    return Allowed(
        set(rows["user"]),
        set(rows["account"]),
        set(rows[["cluster", "account"]].itertuples(index=False, name=None)),
        cpu,
    )


def settled(page) -> None:
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
        " === 'notRunning' && !document.querySelector('[data-testid=\"stSkeleton\"]')",
        timeout=60_000,
    )


def page_csvs(page) -> dict[str, list[dict]]:
    """Every "Download CSV" of the page (charts' data expanders opened first): file name -> rows."""
    for summary in page.locator('[data-testid="stExpander"] summary').all():
        summary.click()
    settled(page)
    out = {}
    buttons = page.get_by_role("button", name=_CSV)
    for i in range(buttons.count()):
        with page.expect_download(timeout=60_000) as info:
            buttons.nth(i).click()
        out[info.value.suggested_filename] = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
        settled(page)  # the click audits the export: a rerun
    return out


def check_csv(name: str, rows: list[dict], scope: Allowed) -> None:
    """No row outside the scope: its users, accounts and (cluster, account) pairs are the scope's."""
    if not rows or scope.users is None:
        return
    cols = set(rows[0])
    if "user" in cols:
        seen = {r["user"] for r in rows} - PLACEHOLDERS
        assert seen <= scope.users, (name, seen - scope.users)
    if "account" in cols:
        seen = {r["account"] for r in rows} - PLACEHOLDERS
        assert seen <= scope.accounts, (name, seen - scope.accounts)
    if {"cluster", "account"} <= cols:
        seen = {(r["cluster"], r["account"]) for r in rows if r["account"] not in PLACEHOLDERS}
        assert seen <= scope.pairs, (name, seen - scope.pairs)


def usage_total(name: str, rows: list[dict]) -> float | None:
    """Total CPU-hours of a usage-over-time CSV (a period column and cpu_hours), else None."""
    if not rows or "cpu_hours" not in rows[0] or not ({"period", "date"} & set(rows[0])):
        return None
    return sum(float(r["cpu_hours"] or 0) for r in rows)


# Distributions over fixed buckets every job has (Queue page): their bars count every job of the scope.
JOB_BUCKETS = ("job_size", "node_count", "wall_time")


def jobs_total(name: str, rows: list[dict]) -> int | None:
    """Jobs counted by a distribution CSV (a bucket column and jobs), else None."""
    if not rows or len(rows[0]) != 2 or "jobs" not in rows[0] or not set(JOB_BUCKETS) & set(rows[0]):
        return None
    return sum(int(r["jobs"] or 0) for r in rows)


def job_visible(page, url: str, job: tuple) -> bool:
    """Open the job page of (cluster, job_id_raw, end day) by URL: whether its record is shown."""
    cluster, job_id, day = job
    page.goto(f"{url}/job?job={cluster}/{job_id}&day={str(day)[:10]}")
    settled(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    shown = page.get_by_text("User / account").count() > 0
    hidden = page.get_by_text(f"No finished job {job_id} on {cluster}").count() > 0
    assert shown != hidden, (job, shown, hidden)
    return shown


def one_job(warehouse, cond: str, params: list) -> tuple:
    row = warehouse.sql(
        f"SELECT cluster, job_id_raw, end_date FROM jobs WHERE {cond} ORDER BY cluster, job_id_raw LIMIT 1", params
    )
    if row.empty:
        pytest.fail(f"the synthetic warehouse has no job where {cond} {params}")
    return tuple(row.iloc[0])
