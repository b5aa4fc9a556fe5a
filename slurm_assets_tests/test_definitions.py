"""Protects the code location: every asset, check, job, schedule and sensor exists under its contract name,
loading reads no environment and touches no disk, and ``dg check defs`` accepts the project."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from slurm_assets.definitions import defs as load_defs
from slurm_assets.sacct import catalog

ROOT = Path(__file__).resolve().parents[1]
# The table assets come from the catalogue (slurm_assets_tests/test_catalog.py checks each spec's asset).
ASSETS = {"landing_pull", "warehouse_duckdb", "monthly_compacts", "monthly_reports", *catalog.asset_tables()}
CHECKS = {
    ("jobs", "jobs_keys_unique"),
    ("jobs", "jobs_durations_non_negative"),
    ("quarantine", "quarantine_share_below_threshold"),
    ("quarantine", "no_drop_quarantined_whole"),
    ("usage_daily", "usage_matches_jobs"),
}


def test_every_definition_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # loading must not create ./data or read a clusters file
    monkeypatch.delenv("SLURM_USAGE_DATA_DIR", raising=False)
    defs = load_defs()
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == ASSETS
    assert {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys} == CHECKS
    assert {"daily_tables_job", "warehouse_job", "ssh_pull_job"} <= {j.name for j in defs.resolve_all_job_defs()}
    assert defs.resolve_sensor_def("landing_sensor") and defs.resolve_sensor_def("warehouse_sensor")
    assert defs.resolve_schedule_def("ssh_pull_schedule")
    assert set(defs.resources) == {"storage", "ssh"}
    assert list(tmp_path.iterdir()) == []


def test_partitioning_and_pool_contract():
    graph = load_defs().resolve_asset_graph()
    daily = {"landing_pull", *catalog.daily_assets()}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.to_user_string() in daily:
            assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition), key
            assert node.backfill_policy is not None, key
        elif key.to_user_string() == "monthly_reports":
            assert isinstance(node.partitions_def, dg.MonthlyPartitionsDefinition), key
        else:
            assert node.partitions_def is None, key
    assert graph.get(dg.AssetKey("warehouse_duckdb")).pools == {"duckdb_writer"}


def test_dg_check_defs_passes():
    env = {**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parent.parent)}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "check", "defs"],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All definitions loaded successfully" in proc.stdout + proc.stderr
