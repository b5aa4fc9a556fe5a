"""Protects the operator's path to monthly reports: ``dagster-webserver`` + ``dagster-daemon`` on the instance of
deploy/dagster.local.yaml, a backfill of ``monthly_reports`` over a range of months launched over GraphQL as the
UI's "Materialize" of selected partitions does; every run of the backfill succeeds (one per month) and the
reports of each month exist with totals equal to the daily tables."""

import shutil
from pathlib import Path

import dagster as dg

from bench import ui_backfill
from slurm_assets_tests.ports import free_port
from slurm_assets_tests.reports.conftest import build_report_warehouse, check_reports

ROOT = Path(__file__).resolve().parents[2]
MONTHS = ["2026-02-01", "2026-03-01"]  # partition keys: each month's first day


def test_a_backfill_of_months_from_the_ui_writes_every_report(tmp_path):
    data_dir = build_report_warehouse(tmp_path / "data")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    env = {"SLURM_USAGE_FIRST_DAY": "2026-01-31"}  # monthly partitions from 2026-01 on

    result = ui_backfill.run(
        data_dir, MONTHS, home, tmp_path, free_port(), extra_env=env, asset_keys=[["monthly_reports"]]
    )
    log = (tmp_path / "ui_backfill.log").read_text()[-3000:]
    assert result["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), log
    assert result["runs"] == len(MONTHS) == result["runs_succeeded"], (result, log)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = [instance.get_run_by_id(run_id) for run_id in result["run_ids"]]
        assert sorted(r.tags["dagster/partition"] for r in runs) == MONTHS
        done = instance.fetch_materializations(dg.AssetKey("monthly_reports"), limit=10).records
        assert sorted(m.partition_key for m in done) == MONTHS
    check_reports(data_dir, tuple(m[:7] for m in MONTHS))
    assert {p.name for p in (data_dir / "reports").iterdir()} == {"2026-02", "2026-03"}  # the range, nothing more
