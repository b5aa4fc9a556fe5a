"""The production stack for real: dagster-webserver + dagster-daemon on deploy/dagster.production.yaml (a
throwaway PostgreSQL), steps on a dask scheduler's workers. A backfill launched over GraphQL as the UI
does runs every step on the dask workers (not in the daemon's or the run's process), writes the same
files as ``process``, and the warehouse sensor then refreshes running_jobs and the DuckDB views. Once with the
data roots on local disk, once on ``s3://`` (a moto server): the workers then share nothing but the bucket and
PostgreSQL, each with a local folder of its own for the DuckDB file (``SLURM_USAGE_LOCAL_DIR``)."""

import os
import shutil
import subprocess
import sys
import time

import dagster as dg
import pytest

from bench import ui_backfill
from slurm_assets.storage import paths
from slurm_assets_tests.dask_cluster import start_cluster
from slurm_assets_tests.defs.production import ROOT, production_home
from slurm_assets_tests.ports import free_port
from slurm_assets_tests.streamlit_app.s3_warehouse import upload
from slurm_assets_tests.warehouse_files import warehouse_files

SENSOR_TIMEOUT_S = 300  # the daemon evaluates run-status sensors every 30 s or so; oversubscribed CPUs
DAYS = ["2024-05-01", "2024-05-02"]
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def data_roots(request, tmp_path, landed):
    """(UI root, process root, extra env of every process): two copies of the landed drops."""
    if request.param == "disk":
        ui_data, cli_data = tmp_path / "ui_data", tmp_path / "cli_data"
        shutil.copytree(landed, ui_data)
        shutil.copytree(landed, cli_data)
        return ui_data, cli_data, {}
    bucket = request.getfixturevalue("s3_bucket")
    ui_data, cli_data = f"s3://{bucket.name}/ui", f"s3://{bucket.name}/cli"
    upload(landed, ui_data)
    upload(landed, cli_data)
    return ui_data, cli_data, bucket.server.env()


@pytest.fixture(params=["disk", "s3"])
def dask_stack(request, tmp_path, landed, postgres_server):
    """Data roots for the UI and for ``process``, the production env, and 2 dask workers (stopped after)."""
    ui_data, cli_data, root_env = data_roots(request, tmp_path, landed)
    env = production_home(postgres_server, tmp_path / "dagster_home", f"dask_backfill_{request.param}")
    pg_env = {k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")} | root_env
    # a worker host needs: the code, the instance's database, the data root; its own working directory
    worker_env = {
        **env,
        **root_env,
        "PYTHONPATH": str(ROOT),
        "SLURM_USAGE_DATA_DIR": str(ui_data),
        "SLURM_USAGE_LOCAL_DIR": str(tmp_path / "worker-local"),
    }
    (tmp_path / "worker").mkdir()
    cluster = start_cluster(2, worker_env, tmp_path, cwd=tmp_path / "worker")
    try:
        yield ui_data, cli_data, tmp_path, pg_env, cluster
    finally:
        cluster.stop()


def step_pids(instance, run_id):
    """pid of each step's start, and of the run's own process (RUN_START)."""
    steps = {
        r.dagster_event.step_key: r.dagster_event.pid
        for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
    }
    run = {r.dagster_event.pid for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)}
    return steps, run


def test_ui_backfill_runs_steps_on_dask_workers_and_matches_process(dask_stack, monkeypatch):
    ui_data, cli_data, tmp, pg_env, cluster = dask_stack
    home = tmp / "dagster_home"
    extra = {**pg_env, "SLURM_USAGE_EXECUTOR": "dask", "SLURM_USAGE_DASK_SCHEDULER": cluster.address}

    for key, value in pg_env.items():  # this process opens the same instance (dagster.yaml reads them)
        monkeypatch.setenv(key, value)

    def views_refreshed():  # warehouse_sensor -> warehouse_job (itself on the dask workers), to its end
        deadline = time.monotonic() + SENSOR_TIMEOUT_S
        with dg.DagsterInstance.from_config(str(home)) as instance:
            while True:
                runs = instance.get_runs(dg.RunsFilter(job_name="warehouse_job", statuses=FINISHED))
                if runs:
                    assert runs[0].is_success, (tmp / "ui_backfill.log").read_text()[-3000:]
                    return
                assert time.monotonic() < deadline, (tmp / "ui_backfill.log").read_text()[-3000:]
                assert all(w.poll() is None for w in cluster.workers), "a dask worker died"
                time.sleep(2)

    result = ui_backfill.run(ui_data, DAYS, home, tmp, free_port(), extra_env=extra, after=views_refreshed)
    assert result["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), (tmp / "ui_backfill.log").read_text()[-3000:]
    assert result["runs"] == 1 and result["runs_succeeded"] == 1

    cli_env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}  # process on a temporary SQLite instance
    cli_env["SLURM_USAGE_LOCAL_DIR"] = str(tmp / "cli-local")
    proc = subprocess.run(
        [sys.executable, "-m", "slurm_assets", "process", "--data-dir", str(cli_data)],
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert warehouse_files(ui_data) == warehouse_files(cli_data) != {}

    monkeypatch.setenv("SLURM_USAGE_LOCAL_DIR", str(tmp / "worker-local"))  # an s3:// root's DuckDB file: the workers'
    assert paths.duckdb_path(ui_data).exists() and any(f.startswith("running_jobs/") for f in warehouse_files(ui_data))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert {r.job_name for r in runs} == {"__ASSET_JOB", "warehouse_job"}
        for run in runs:
            assert run.is_success, run.job_name
            steps, run_pids = step_pids(instance, run.run_id)
            assert steps and set(steps.values()) <= cluster.worker_pids, (run.job_name, steps)
            assert not run_pids & cluster.worker_pids
        backfill_run = next(r for r in runs if r.job_name == "__ASSET_JOB")
        assert {"daily_tables", "usage_tables"} <= set(step_pids(instance, backfill_run.run_id)[0])
        planned = instance.get_event_records(
            dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, asset_key=dg.AssetKey("jobs"))
        )
        assert len(planned) == 1  # one planned event for the range, not one per day
        jobs = {
            m.partition_key: m.asset_materialization.metadata
            for m in instance.fetch_materializations(dg.AssetKey("jobs"), limit=100).records
        }
        assert jobs["2024-05-02"]["dagster/row_count"].value == 2 and jobs["2024-05-01"]["dagster/row_count"].value == 2
