"""Monthly reports from the daily tables: per cluster and per (cluster, account), a CSV and a PDF.

Figures of month M (UTC), all from the warehouse (``storage.warehouse.connect_readonly``):

* totals: CPU-, GPU-, node-hours (``usage_daily``: usage apportioned to the days it ran, so a
  month's sum is exactly the month's share of long jobs) and jobs that ended in M;
* the month's chart: CPU- and GPU-hours per day;
* top users by CPU-hours; GPU-hours by GPU type (``gpu_usage_daily``);
* CPU and memory efficiency of the jobs that ended in M (``job_summary`` sums, as the dashboard);
* partial: the month is not over, or the cluster's drops start after its first day or stop
  before its last day ("data through D").

Files: ``DATA_DIR/reports/<YYYY-MM>/<cluster>/cluster.{csv,pdf}`` and
``.../account-<account>.{csv,pdf}`` (names outside ``[A-Za-z0-9_.-]`` percent-encoded).
The CSV is one table with a ``section`` column (total, efficiency, day, user, gpu_type).
"""

import calendar
import dataclasses
import datetime as dt
import io
import re
import urllib.parse
from pathlib import Path

import duckdb
import pandas as pd

from slurm_assets.sacct.catalog import REPORT_SPECS
from slurm_assets.storage import fs, paths
from slurm_assets.storage.atomic import write_bytes_atomic
from slurm_assets.storage.warehouse import connect_readonly

TOP_USERS = 10
CLUSTER_FILE = "cluster"
_SAFE = re.compile(r"[A-Za-z0-9_.-]+")
# Report keys: every (cluster, account) and every cluster alone (account NULL).
_WHOLE = "\x00cluster"  # the cluster-level key while grouping (no account name holds NUL)
_KEYS = "GROUPING SETS ((cluster, account), (cluster))"


@dataclasses.dataclass
class Report:
    """One report's figures; ``account`` None = the whole cluster."""

    month: str  # YYYY-MM
    cluster: str
    account: str | None
    totals: dict
    efficiency: dict
    days: pd.DataFrame  # date, cpu_hours, gpu_hours
    users: pd.DataFrame  # user, cpu_hours, gpu_hours, jobs
    gpu_types: pd.DataFrame  # gpu_type, gpu_hours
    data_through: dt.date | None
    partial: bool

    @property
    def title(self) -> str:
        who = f"account {self.account} on {self.cluster}" if self.account else f"cluster {self.cluster}"
        return f"Usage of {who}, {self.month}"


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First and last day of ``YYYY-MM`` (or a partition key ``YYYY-MM-01``)."""
    first = dt.date.fromisoformat(month[:7] + "-01")
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def report_dir(data_dir: Path, month: str) -> Path:
    return fs.root(data_dir) / REPORT_SPECS["monthly_reports"].folder / month[:7]


def file_stem(account: str | None) -> str:
    if account is None:
        return CLUSTER_FILE
    return "account-" + (account if _SAFE.fullmatch(account) else urllib.parse.quote(account, safe=""))


def _split(df: pd.DataFrame) -> dict[tuple[str, str | None], pd.DataFrame]:
    """Rows per report key; the cluster-level rows (account NULL) under (cluster, None)."""
    key = df["account"].astype(object).where(df["account"].notna(), _WHOLE)
    return {
        (c, None if a == _WHOLE else a): g.drop(columns=["cluster", "account"]).reset_index(drop=True)
        for (c, a), g in df.assign(account=key).groupby(["cluster", "account"], sort=True)
    }


def _queries(con: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date) -> dict[str, pd.DataFrame]:
    p = [first, last]
    month = "date BETWEEN ? AND ?"
    q = {
        "totals": f"""SELECT cluster, account, sum(cpu_hours) AS cpu_hours, sum(gpu_hours) AS gpu_hours,
                             sum(node_hours) AS node_hours, sum(jobs_ended) AS jobs
                      FROM usage_daily WHERE {month} GROUP BY {_KEYS}""",
        "days": f"""SELECT cluster, account, date, sum(cpu_hours) AS cpu_hours, sum(gpu_hours) AS gpu_hours
                    FROM usage_daily WHERE {month} GROUP BY GROUPING SETS ((cluster, account, date), (cluster, date))
                    ORDER BY date""",
        "users": f"""SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY cluster, account
                                                               ORDER BY cpu_hours DESC, "user") AS rank
                     FROM (SELECT cluster, account, "user", sum(cpu_hours) AS cpu_hours, sum(gpu_hours) AS gpu_hours,
                                  sum(jobs_ended) AS jobs
                           FROM usage_daily WHERE {month}
                           GROUP BY GROUPING SETS ((cluster, account, "user"), (cluster, "user"))))
                     WHERE rank <= {TOP_USERS} ORDER BY rank""",
        "gpu_types": f"""SELECT cluster, account, coalesce(nullif(gpu_type, ''), '(untyped)') AS gpu_type,
                                sum(gpu_hours) AS gpu_hours
                         FROM gpu_usage_daily WHERE {month}
                         GROUP BY GROUPING SETS ((cluster, account, 3), (cluster, 3)) ORDER BY gpu_hours DESC, 3""",
        "efficiency": f"""SELECT cluster, account, sum(jobs) AS jobs_ended,
                                 sum(cpu_used_s) * 100.0 / nullif(sum(cpu_alloc_s), 0) AS cpu_efficiency_pct,
                                 sum(mem_used_bytes) * 100.0 / nullif(sum(mem_req_bytes), 0) AS mem_efficiency_pct
                          FROM job_summary WHERE {month} GROUP BY {_KEYS}""",
        "through": "SELECT cluster, NULL AS account, min(date) AS data_from, max(date) AS data_through FROM drops"
        " GROUP BY cluster",
    }
    return {name: con.execute(sql, p if "?" in sql else []).df() for name, sql in q.items()}


def build_reports(data_dir: Path, month: str, today: dt.date | None = None) -> list[Report]:
    """Every report of ``month`` (clusters and accounts with usage in it), figures from the daily tables."""
    first, last = month_bounds(month)
    today = today or dt.datetime.now(dt.UTC).date()
    con = connect_readonly(fs.root(data_dir))
    try:
        found = {name: _split(df) for name, df in _queries(con, first, last).items()}
    finally:
        con.close()
    empty = pd.DataFrame()
    reports = []
    for (cluster, account), totals in sorted(found["totals"].items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        through = found["through"].get((cluster, None), empty)
        data_from, data_through = (
            _day(through[c].iloc[0]) if not through.empty else None for c in ("data_from", "data_through")
        )
        eff = found["efficiency"].get((cluster, account), empty)
        reports.append(
            Report(
                month=month[:7],
                cluster=cluster,
                account=account,
                totals={k: _num(v) for k, v in totals.iloc[0].items()},
                efficiency={k: _num(v) for k, v in eff.iloc[0].items()} if not eff.empty else {},
                days=found["days"].get((cluster, account), empty),
                users=found["users"].get((cluster, account), empty),
                gpu_types=found["gpu_types"].get((cluster, account), empty),
                data_through=data_through,
                partial=last >= today or data_through is None or data_through < last or data_from > first,
            )
        )
    return reports


def _day(value) -> dt.date | None:
    return value.date() if isinstance(value, dt.datetime) else value


def _num(value):
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def report_csv(r: Report) -> bytes:
    """One table: section (total, efficiency, day, user, gpu_type), name, and the figures."""
    rows = [
        {
            "section": "total",
            "name": "partial month" if r.partial else "complete month",
            **r.totals,
            "data_through": r.data_through,
        }
    ]
    rows += [{"section": "efficiency", "name": k, "value": v} for k, v in r.efficiency.items()]
    rows += (
        [
            {"section": "day", "name": str(d.date() if hasattr(d, "date") else d), "cpu_hours": c, "gpu_hours": g}
            for d, c, g in r.days[["date", "cpu_hours", "gpu_hours"]].itertuples(index=False)
        ]
        if not r.days.empty
        else []
    )
    if not r.users.empty:
        rows += [
            {"section": "user", "name": u, "cpu_hours": c, "gpu_hours": g, "jobs": j}
            for u, c, g, j in r.users[["user", "cpu_hours", "gpu_hours", "jobs"]].itertuples(index=False)
        ]
    if not r.gpu_types.empty:
        rows += [
            {"section": "gpu_type", "name": t, "gpu_hours": g}
            for t, g in r.gpu_types[["gpu_type", "gpu_hours"]].itertuples(index=False)
        ]
    columns = ["section", "name", "cpu_hours", "gpu_hours", "node_hours", "jobs", "value", "data_through"]
    buf = io.StringIO()
    pd.DataFrame(rows, columns=columns).to_csv(buf, index=False)
    return buf.getvalue().encode()


def write_reports(data_dir: Path, month: str, today: dt.date | None = None) -> list[Path]:
    """Build and write every report of ``month`` (atomically); remove files of reports no longer produced."""
    from slurm_assets.reports.pdf import report_pdf  # reportlab only where PDFs are made

    folder = report_dir(data_dir, month)
    written = []
    for r in build_reports(data_dir, month, today):
        stem = folder / paths.check_cluster_name(r.cluster) / file_stem(r.account)
        for suffix, data in ((".csv", report_csv(r)), (".pdf", report_pdf(r))):
            write_bytes_atomic(stem.with_suffix(suffix), data)
            written.append(stem.with_suffix(suffix))
    keep = set(written)
    for old in folder.glob("*/*.*") if folder.exists() else []:
        if old.suffix in (".csv", ".pdf") and old not in keep:
            old.unlink()
    return written
