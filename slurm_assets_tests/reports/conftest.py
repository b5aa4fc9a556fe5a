"""The reports tests' warehouse: the dashboard's synthetic one (60 days to 2026-03-31) plus job_summary."""

import csv
import datetime as dt
import io
from pathlib import Path

import pyarrow as pa
import pytest

from slurm_assets.reports import monthly
from slurm_assets.sacct import summary
from slurm_assets.storage import warehouse
from slurm_assets_tests.streamlit_app.synthetic import build_warehouse

LAST = dt.date(2026, 3, 31)  # synthetic data: 60 days, 2026-01-31 .. 2026-03-31


def build_report_warehouse(root: Path) -> Path:
    """The synthetic warehouse under ``root``, with the job_summary files the pipeline writes with jobs."""
    build_warehouse(root, last_day=LAST)
    con = warehouse.connect_readonly(root)
    try:
        for cluster, day in con.execute("SELECT DISTINCT cluster, end_date FROM jobs").fetchall():
            jobs = con.execute("SELECT * FROM jobs WHERE cluster = ? AND end_date = ?", [cluster, day]).arrow()
            jobs = jobs.read_all() if hasattr(jobs, "read_all") else jobs
            [rows] = summary.job_summary_groups([pa.table(jobs)])
            warehouse.write_partition(root, "job_summary", cluster, day.isoformat(), rows)
    finally:
        con.close()
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return build_report_warehouse(tmp_path_factory.mktemp("reports"))


def report_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def check_reports(data_dir: Path, months: tuple[str, ...]) -> None:
    """Every report of ``months`` exists (one per cluster and per account with usage), and its totals and days
    equal direct SQL over the daily tables; complete months are marked complete."""
    con = warehouse.connect_readonly(data_dir)
    try:
        for month in ("2026-02", "2026-03"):
            first, last = monthly.month_bounds(month)
            folder = monthly.report_dir(data_dir, month)
            keys = con.execute(
                "SELECT DISTINCT cluster, account FROM usage_daily WHERE date BETWEEN ? AND ?", [first, last]
            ).fetchall()
            assert len(list(folder.glob("*/*.csv"))) == len(keys) + len({c for c, _ in keys})
            for cluster, account in [*keys, *{(c, None) for c, _ in keys}]:
                rows = report_rows(folder / cluster / (monthly.file_stem(account) + ".csv"))
                total = next(r for r in rows if r["section"] == "total")
                cond = "cluster = ? AND date BETWEEN ? AND ?" + (" AND account = ?" if account else "")
                params = [cluster, first, last] + ([account] if account else [])
                cpu, gpu, jobs = con.execute(
                    f"SELECT sum(cpu_hours), sum(gpu_hours), sum(jobs_ended) FROM usage_daily WHERE {cond}", params
                ).fetchone()
                assert float(total["cpu_hours"]) == pytest.approx(cpu, rel=1e-12)
                assert float(total["gpu_hours"]) == pytest.approx(gpu, rel=1e-12, abs=1e-9)
                ended = con.execute(
                    f"SELECT count(*) FROM jobs WHERE {cond.replace('date BETWEEN', 'end_date BETWEEN')}", params
                ).fetchone()[0]
                assert float(total["jobs"]) == jobs == ended
                days = [r for r in rows if r["section"] == "day"]
                assert sum(float(r["cpu_hours"]) for r in days) == pytest.approx(cpu, rel=1e-9)
                assert total["name"] == "complete month"
                eff = {r["name"]: float(r["value"]) for r in rows if r["section"] == "efficiency" and r["value"]}
                assert 0 < eff["cpu_efficiency_pct"] <= 100
    finally:
        con.close()
