"""Protects the bench's workloads (issue 7): a workload holds what it claims (one sacct text per UTC day,
jobs of that day, about the stated number of jobs), the stand-in sacct serves exactly the asked day so the
agent ships it unchanged, and the dashboard warehouse has the claimed jobs, days and matching usage.
No timing is asserted here."""

import datetime as dt
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from bench import dashboard, scenarios
from slurm_assets.sacct import summary
from bench import workload as wl
from slurm_assets.sacct.dedupe import dedupe_jobs
from slurm_assets.sacct.parse import parse_sacct_texts
from slurm_assets.storage import landing

WORK = wl.Workload("test-tiny", ("alpha",), 3650, 4)  # 10 jobs a day over the last 4 days of 2025


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return wl.build(WORK, tmp_path_factory.mktemp("cache"))


def test_one_text_per_day_with_the_agent_header(folder):
    days = [d.isoformat() for d in WORK.day_list]
    assert days == ["2025-12-28", "2025-12-29", "2025-12-30", "2025-12-31"]
    assert [p.stem for p in wl.day_files(folder, "alpha")] == days
    stats = json.loads((folder / "stats.json").read_text())["alpha"]
    texts = [p.read_bytes() for p in wl.day_files(folder, "alpha")]
    assert stats["bytes"] == sum(len(t) for t in texts)
    header = texts[0].split(b"\n", 1)[0].decode()
    assert header.split("|") == list(wl.agent_fields())
    # stats count the job and step lines (the header excluded)
    assert stats["lines"] == sum(t.count(b"\n") - 1 for t in texts)


def test_jobs_run_in_their_day_and_number_about_as_claimed(folder):
    files = wl.day_files(folder, "alpha")
    parsed = parse_sacct_texts([(p.read_bytes(), "alpha", p.stem, p.stem) for p in files])
    for path, p in zip(files, parsed, strict=True):
        assert p.quarantine.num_rows == 0, p.quarantine.to_pylist()[:3]
        day = dt.date.fromisoformat(path.stem)
        lo = dt.datetime.combine(day, dt.time(), dt.UTC)
        for job in p.jobs.to_pylist():  # sacct -S day -E day+1: every job overlaps the day
            assert job["end_time"] >= lo and (job["start_time"] or job["end_time"]) < lo + dt.timedelta(days=1)
    jobs = dedupe_jobs([p.jobs for p in parsed], [(p,) for p in range(len(parsed))])
    in_range = jobs.filter(pc.greater_equal(jobs["end_date"], pa.scalar(WORK.day_list[0], pa.date32())))
    assert 0.5 * WORK.jobs_per_day * WORK.days <= in_range.num_rows <= 2 * WORK.jobs_per_day * WORK.days


def test_cached_workload_is_reused(folder):
    marker = folder / "workload.json"
    before = marker.stat().st_mtime_ns
    assert wl.build(WORK, folder.parent) == folder
    assert marker.stat().st_mtime_ns == before


def test_stand_in_sacct_serves_the_asked_day(folder, tmp_path):
    wl.install_cat_sacct(tmp_path / "bin", folder, "alpha")
    env = wl.bench_env(tmp_path / "bin")
    argv = [
        "sacct",
        "--allusers",
        "--duplicates",
        "--parsable2",
        "--format=JobID",
        "-S",
        "2025-12-30T00:00:00",
        "-E",
        "2025-12-31T00:00:00",
        "--clusters",
        "alpha",
    ]
    out = subprocess.run(argv, env=env, capture_output=True, check=True).stdout
    assert out == (folder / "alpha" / "2025-12-30.psv").read_bytes()
    version = subprocess.run(["sacct", "--version"], env=env, capture_output=True, check=True, text=True).stdout
    assert version.startswith("slurm ")
    nodes = subprocess.run(["scontrol", "show", "node", "-o"], env=env, capture_output=True, check=True).stdout
    assert nodes == (folder / "alpha" / "nodes.txt").read_bytes()


def test_agent_ships_each_day_unchanged(folder, tmp_path):
    row, data_dir = scenarios.agent(folder, WORK, "alpha", tmp_path)
    assert row["ours"]["returncode"] == 0
    refs = sorted(landing.list_drops(data_dir), key=lambda r: r.day)
    assert [r.day for r in refs] == [d.isoformat() for d in WORK.day_list]
    for ref in refs:
        assert landing.read_drop_text(ref) == (folder / "alpha" / f"{ref.day}.psv").read_bytes()


def test_dashboard_warehouse_has_the_claimed_jobs_and_usage(tmp_path):
    data_dir = dashboard.build_warehouse("dash-tiny", 300, 5, tmp_path)
    spec = json.loads((tmp_path / "dash-tiny" / "warehouse.json").read_text())
    days = [dt.date(2025, 12, 27) + dt.timedelta(days=i) for i in range(5)]
    total = cpu = 0.0
    for cluster in dashboard.CLUSTERS:
        for day in days:
            jobs = pq.read_table(
                data_dir / "warehouse" / "jobs" / f"cluster={cluster}" / f"date={day}" / "part-0.parquet"
            )
            assert set(jobs["end_date"].to_pylist()) <= {day} and set(jobs["cluster"].to_pylist()) <= {cluster}
            assert (data_dir / "warehouse" / "drops" / f"cluster={cluster}" / f"date={day}" / "part-0.parquet").exists()
            total += jobs.num_rows
            cpu += pc.sum(jobs["cpu_hours"]).as_py() or 0
    assert total == spec["jobs_written"] and 0.5 * 300 <= total <= 2 * 300
    usage = _read_all(data_dir / "warehouse" / "usage_daily")
    assert pc.sum(usage["cpu_hours"]).as_py() == pytest.approx(cpu, rel=1e-9)
    capacity = _read_all(data_dir / "warehouse" / "capacity_daily")
    assert capacity.num_rows > 0
    # job_summary as the pipeline writes it: one file per jobs file, equal to the summary of those jobs
    for jobs_file in sorted((data_dir / "warehouse" / "jobs").rglob("*.parquet")):
        rel = jobs_file.relative_to(data_dir / "warehouse" / "jobs")
        written = pq.read_table(data_dir / "warehouse" / "job_summary" / rel)
        assert written.to_pylist() == summary.job_summary(pq.read_table(jobs_file)).to_pylist()
    assert pc.sum(_read_all(data_dir / "warehouse" / "job_summary")["jobs"]).as_py() == total


def test_cached_dashboard_warehouse_gets_its_missing_job_summary(tmp_path):
    data_dir = dashboard.build_warehouse("dash-tiny", 300, 5, tmp_path)
    first = sorted((data_dir / "warehouse" / "job_summary").rglob("*.parquet"))
    for p in first[:4]:
        p.unlink()
    assert dashboard.build_warehouse("dash-tiny", 300, 5, tmp_path) == data_dir  # cached: only the summary added
    assert sorted((data_dir / "warehouse" / "job_summary").rglob("*.parquet")) == first


def _read_all(folder) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted(folder.rglob("*.parquet"))])


def test_shift_moves_every_time_by_whole_days():
    ts = pa.timestamp("us", tz="UTC")
    t0 = dt.datetime(2025, 1, 1, 23, 30, tzinfo=dt.UTC)
    jobs = pa.table(
        {
            "submit_time": pa.array([t0], ts),
            "eligible_time": pa.array([None], ts),
            "start_time": pa.array([t0], ts),
            "end_time": pa.array([t0 + dt.timedelta(hours=1)], ts),
            "end_date": pa.array([dt.date(2025, 1, 2)], pa.date32()),
        }
    )
    out = dashboard._shift(jobs, 3).to_pylist()[0]
    assert out["submit_time"] == t0 + dt.timedelta(days=3) and out["eligible_time"] is None
    assert out["end_time"] == t0 + dt.timedelta(days=3, hours=1) and out["end_date"] == dt.date(2025, 1, 5)


def test_probe_runs_every_page(tmp_path):
    data_dir = dashboard.build_warehouse("dash-tiny", 300, 5, tmp_path)
    out = tmp_path / "probe.json"
    subprocess.run(
        [sys.executable, "-m", "bench.dashboard", "probe", str(data_dir), str(out), "1"],
        check=True,
        cwd=wl.ROOT,
        capture_output=True,
    )
    result = json.loads(out.read_text())
    assert result["errors"] == {}
    assert set(result["pages"]) == {
        "sidebar",
        "overview",
        "usage",
        "explorer",
        "users_accounts",
        "efficiency",
        "queue",
        "gpus",
        "jobs",
        "utilization",
        "data_status",
    }
    assert all(len(v) == 3 for v in result["pages"].values())  # 3 filters x 1 repetition


def test_run_seconds_reads_the_process_output():
    out = (
        "/d: 365 drops on 365 days; 365 days to process in 2 run(s)\n"
        "  2025-01-01..2025-04-10: done in 62.2 s (0 failed checks; run a)\n"
        "  2025-04-11..2025-12-31: done in 7.5 s (1 failed checks; run b)\n"
        "  running_jobs + DuckDB views: done (/d/slurm_usage.duckdb)\n"
    )
    assert scenarios.run_seconds(out) == [62.2, 7.5]
