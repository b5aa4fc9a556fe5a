"""Protects ``python -m slurm_assets process``: it processes exactly the days with unprocessed drops (one run
per batch), is a no-op when nothing is new, publishes DuckDB, and uses distinct exit codes for bad input."""

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from slurm_assets.__main__ import EXIT_OK, EXIT_USAGE, main
from slurm_assets.storage import paths, state, warehouse
from slurm_assets_tests.defs import conftest as defs_conftest
from slurm_assets_tests.defs.history import at, land

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
    proc = subprocess.run([sys.executable, "-m", "slurm_assets", "process", "--data-dir", str(tmp_path)],
                          check=False, capture_output=True, text=True, timeout=240)
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
