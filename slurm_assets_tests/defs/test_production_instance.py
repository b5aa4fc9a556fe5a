"""deploy/dagster.production.yaml, used as is, on a real (throwaway) PostgreSQL: ``process`` records its
runs and events in PostgreSQL (not in SQLite files under DAGSTER_HOME) and writes the same files."""

import subprocess
import sys

import dagster as dg

from slurm_assets.storage import paths
from slurm_assets_tests.defs.production import ROOT, production_home


def test_process_records_runs_in_postgres(tmp_path, landed, postgres_server, monkeypatch):
    home = tmp_path / "dagster_home"
    env = production_home(postgres_server, home, "process_runs")
    proc = subprocess.run(
        [sys.executable, "-m", "slurm_assets", "process", "--data-dir", str(landed)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for cluster, day in (("alpha", "2024-05-01"), ("alpha", "2024-05-02"), ("beta", "2024-05-01")):
        assert paths.partition_file(landed, "jobs", cluster, day).exists()
    assert paths.duckdb_path(landed).exists()

    db = env["DAGSTER_PG_DB"]
    rows = postgres_server.psql("SELECT pipeline_name, status FROM runs ORDER BY create_timestamp", db=db)
    assert rows.split() == ["daily_tables_job|SUCCESS", "warehouse_job|SUCCESS"], rows
    materialized = postgres_server.psql(
        "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'", db=db
    )
    assert int(materialized) >= 2 * 6 + 2  # 6 daily tables x 2 days, running_jobs, warehouse_duckdb
    assert not list(home.rglob("*.db")), "the production instance must not write SQLite files"

    for key, value in env.items():
        if key.startswith("DAGSTER_PG_"):
            monkeypatch.setenv(key, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:  # what the webserver and daemon open
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert {r.job_name for r in instance.get_runs()} == {"daily_tables_job", "warehouse_job"}
