"""Protects ``python -m slurm_assets process``: it processes exactly the days with unprocessed drops (one run
per batch), is a no-op when nothing is new, publishes DuckDB, and uses distinct exit codes for bad input;
runs side by side (``--workers``) write the same files as one after the other; a range run records one
planned event per asset but still one materialization per asset and day, with its metadata; a failed run's
days are not marked processed and the next ``process`` redoes them; a ``kill -9`` of ``process`` ends its
run workers too; ``process`` removes what killed writers left over an hour ago, and says so."""

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from slurm_assets.__main__ import EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, main, run_span
from slurm_assets.sacct import catalog
from slurm_assets.storage import paths, state, warehouse
from slurm_assets_tests.defs import conftest as defs_conftest
from slurm_assets_tests.defs.conftest import HISTORY
from slurm_assets_tests.defs.history import at, land, render_window
from slurm_assets_tests.warehouse_files import warehouse_files

landed = defs_conftest.landed  # the fixture the asset tests use


@pytest.fixture(autouse=True)
def no_dagster_home(monkeypatch):
    """Runs go to a temporary instance unless a test sets DAGSTER_HOME (make test exports one)."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def test_process_new_days_then_nothing_then_one_new_day(landed, capsys):
    assert main(["process", "--data-dir", str(landed)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "2 days to process in 1 run(s)" in out and "2024-05-01..2024-05-02: done" in out
    assert paths.duckdb_path(landed).exists()
    assert set(state.read_processed(landed)) == {"2024-05-01", "2024-05-02"}
    con = warehouse.connect_readonly(landed)
    assert con.execute("SELECT count(*) FROM jobs").fetchone() == (4,)

    assert main(["process", "--data-dir", str(landed)]) == EXIT_OK
    assert "0 days to process in 0 run(s)" in capsys.readouterr().out

    shutil.rmtree(landed / "warehouse" / "drops" / "cluster=beta")  # output lost: those days again
    assert main(["process", "--data-dir", str(landed)]) == EXIT_OK
    assert "2 days to process in 1 run(s)" in capsys.readouterr().out

    land(landed, "gamma", "2024-05-02", b"JobIDRaw|State|Submit|Start|End|AllocCPUS\n", at("2024-05-03T06:00:00"))
    assert main(["process", "--data-dir", str(landed)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "1 days to process" in out and "2024-05-02..2024-05-02: done" in out
    assert paths.partition_file(landed, "drops", "gamma", "2024-05-02").exists()


def test_process_removes_old_leftovers_of_killed_writers(landed, capsys):
    day = landed / "landing" / "beta" / "2024-05-01"
    leftovers = [
        day / ".feedfacefeedface.psv.gz.a1.tmp",
        day / "feedfacefeedface.psv.gz",
        landed / "warehouse" / "jobs" / "cluster=beta" / "date=2024-05-01" / ".part-0.parquet.b2.tmp",
    ]
    fresh = day / ".0000000000000000.psv.gz.c3.tmp"  # a receiver storing a drop right now
    for p in [*leftovers, fresh]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"partial")
    for p in leftovers:
        os.utime(p, (time.time() - 7200, time.time() - 7200))
    assert main(["process", "--data-dir", str(landed)]) == EXIT_OK
    assert "removed 3 file(s) left by killed writers" in capsys.readouterr().out
    assert not any(p.exists() for p in leftovers) and fresh.exists()
    assert warehouse.connect_readonly(landed).execute("SELECT count(*) FROM jobs").fetchone() == (4,)


def test_range_and_force(landed, capsys):
    assert main(["process", "--data-dir", str(landed), "--start", "2024-05-02", "--end", "2024-05-02"]) == EXIT_OK
    assert set(state.read_processed(landed)) == {"2024-05-02"}
    capsys.readouterr()
    # --force reprocesses a processed day
    assert main(["process", "--data-dir", str(landed), "--force", "--start", "2024-05-02"]) == EXIT_OK
    assert "1 days to process" in capsys.readouterr().out


def test_bad_day_is_a_usage_error(tmp_path, capsys):
    assert main(["process", "--data-dir", str(tmp_path), "--start", "2024-13-01"]) == EXIT_USAGE
    assert "invalid day '2024-13-01'" in capsys.readouterr().err


def test_module_entry_point(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "slurm_assets", "process", "--data-dir", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert "0 drops on 0 days" in proc.stdout


def test_runs_are_recorded_in_dagster_home(landed, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert main(["process", "--data-dir", str(landed)]) == EXIT_OK
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == ["daily_tables_job", "warehouse_job"]
        assert all(r.is_success for r in runs)


DAYS = [(dt.date(2024, 5, 1) + dt.timedelta(days=i)).isoformat() for i in range(16)]


def land_days(data_dir: Path) -> Path:
    """The test history as one drop per cluster x day for 16 days, each collected 30 min after its day."""
    for cluster, jobs in HISTORY.items():
        for day in DAYS:
            collected = at(day + "T00:30:00") + dt.timedelta(days=1)
            land(data_dir, cluster, day, render_window(jobs, day, collected), collected)
    return data_dir


def dagster_home(path: Path, monkeypatch) -> Path:
    path.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "deploy" / "dagster.local.yaml", path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    return path


def test_run_span_gives_each_worker_an_even_share():
    year = [f"2025-{m:02d}-01" for m in range(1, 13)] + ["2025-12-31"]
    assert run_span(year, 100, 2) == 92  # 4 runs, 2 per worker (was 100, 100, 100, 65)
    assert run_span(year, 100, 1) == 92
    assert run_span(year, 100, 8) == 46  # 8 runs
    assert run_span(DAYS, 100, 2) == 8  # 16 days: 2 runs of 8
    assert run_span(DAYS[:5], 100, 2) == 7  # too few days to split: one run
    assert run_span([], 100, 2) == 100


def test_parallel_runs_write_the_same_files_and_one_materialization_per_day(tmp_path, monkeypatch, capsys):
    serial, parallel = land_days(tmp_path / "serial"), land_days(tmp_path / "parallel")
    assert main(["process", "--data-dir", str(serial), "--workers", "1"]) == EXIT_OK
    home = dagster_home(tmp_path / "home", monkeypatch)
    assert main(["process", "--data-dir", str(parallel), "--workers", "2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "16 days to process in 2 run(s)" in out
    assert "2024-05-01..2024-05-08: done" in out and "2024-05-09..2024-05-16: done" in out
    assert warehouse_files(parallel) == warehouse_files(serial) != {}
    assert set(state.read_processed(parallel)) == set(DAYS)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = {r.run_id: r for r in instance.get_runs() if r.job_name == "daily_tables_job"}
        assert len(runs) == 2 and all(r.is_success for r in runs.values())
        for name in catalog.daily_assets():
            key = dg.AssetKey(name)
            mats = instance.fetch_materializations(key, limit=1000).records
            assert sorted(m.partition_key for m in mats) == DAYS  # one per asset and day
            assert {m.run_id for m in mats} == set(runs)
            for m in mats:  # each day carries its run's metadata
                meta = m.asset_materialization.metadata
                assert meta["dagster/row_count"].value >= 0
            planned = instance.get_event_records(
                dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, asset_key=key)
            )
            assert len(planned) == 2  # one per run, covering the run's days
            subsets = [r.event_log_entry.dagster_event.event_specific_data.partitions_subset for r in planned]
            assert sorted(k for s in subsets for k in s.get_partition_keys()) == DAYS
        jobs = {
            m.partition_key: m.asset_materialization.metadata
            for m in instance.fetch_materializations(dg.AssetKey("jobs"), limit=1000).records
        }
        assert jobs["2024-05-02"]["jobs_by_day"].value["2024-05-02"] == {"alpha": 2, "beta": 0}
        assert jobs["2024-05-02"]["dagster/row_count"].value == 2  # that day's own figure, not the run's
        assert jobs["2024-05-02"]["first_day"].value == "2024-05-01"


def test_a_failed_run_is_not_marked_processed_and_is_redone(tmp_path, monkeypatch, capsys):
    data = land_days(tmp_path / "data")
    dagster_home(tmp_path / "home", monkeypatch)
    (data / "warehouse").mkdir()
    (data / "warehouse" / "usage_daily").write_text("a file where the usage_daily folder must be")
    assert main(["process", "--data-dir", str(data), "--workers", "2"]) == EXIT_RUN_FAILED
    assert "FAILED" in capsys.readouterr().err
    assert state.read_processed(data) == {}
    (data / "warehouse" / "usage_daily").unlink()
    assert main(["process", "--data-dir", str(data), "--workers", "2"]) == EXIT_OK
    assert "16 days to process in 2 run(s)" in capsys.readouterr().out
    assert set(state.read_processed(data)) == set(DAYS)
    assert paths.partition_file(data, "usage_daily", "alpha", "2024-05-02").exists()


def test_bad_worker_count_is_a_usage_error(tmp_path, capsys):
    assert main(["process", "--data-dir", str(tmp_path), "--workers", "0"]) == EXIT_USAGE
    assert "--workers must be >= 1" in capsys.readouterr().err


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_run_workers_die_with_a_killed_process(tmp_path):
    data = land_days(tmp_path / "data")
    proc = subprocess.Popen(
        [sys.executable, "-m", "slurm_assets", "process", "--data-dir", str(data), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while len(children(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = children(proc.pid)
        assert len(workers) >= 2, "process ended before its run workers were seen"
    finally:
        proc.kill()  # kill -9: no cleanup code of process runs
        proc.wait()
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{w}").exists() and "Z" not in _state(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [w for w in workers if Path(f"/proc/{w}").exists() and "Z" not in _state(w)] == []


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_one_cursor_process_and_the_landing_sensor_never_do_a_day_twice(landed, capsys):
    """`make demo` runs `process`, then `dagster dev` starts the landing sensor with an empty cursor: it must
    request nothing. A run the sensor requests (the daemon's) marks its days processed for `process` too."""
    from slurm_assets.definitions import defs as load_defs
    from slurm_assets_tests.defs.landing.test_sensors import RANGE_END, RANGE_START, evaluate

    assert main(["process", "--data-dir", str(landed)]) == EXIT_OK
    assert "2 days to process in 1 run(s)" in capsys.readouterr().out
    requests, cursor = evaluate(landed)  # a fresh sensor, as after `make demo`'s process
    assert requests == []

    land(landed, "gamma", "2024-05-02", b"JobIDRaw|State|Submit|Start|End|AllocCPUS\n", at("2024-05-03T06:00:00"))
    requests, cursor = evaluate(landed, cursor)
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests] == [("2024-05-02", "2024-05-02")]
    result = (
        load_defs()
        .resolve_job_def("daily_tables_job")
        .execute_in_process(  # what the daemon launches
            run_config={"resources": {"storage": {"config": {"data_dir": str(landed)}}}}, tags=requests[0].tags
        )
    )
    assert result.success
    assert main(["process", "--data-dir", str(landed)]) == EXIT_OK
    assert "0 days to process in 0 run(s)" in capsys.readouterr().out
    assert evaluate(landed)[0] == []  # nor would a sensor that lost its cursor
