"""After a backfill launched from the UI (dagster-webserver + the daemon of ``python -m slurm_assets daemon`` on
deploy/dagster.local.yaml, launched over GraphQL as the UI does), the DuckDB views and ``running_jobs`` are
fresh without anyone asking (warehouse_sensor -> warehouse_job after the backfill's run), and each day's
partition shows that day's own figures, not the run's totals. Real servers, a real daemon, real runs."""

import time

import dagster as dg
import duckdb
import pytest

from bench import ui_backfill
from slurm_assets.storage import duckdb as duckdb_store
from slurm_assets.storage import paths
from slurm_assets_tests.defs.production import ROOT
from slurm_assets_tests.ports import free_port

SENSOR_TIMEOUT_S = 300  # run-status sensors are evaluated every 30 s or so; the CPUs may be oversubscribed
DAYS = ["2024-05-01", "2024-05-02"]
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


@pytest.fixture
def sqlite_home(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "deploy" / "dagster.local.yaml").read_text())
    return home


def views(data_dir) -> dict:
    con = duckdb.connect(str(paths.duckdb_path(data_dir)), read_only=True)
    try:
        return {
            "jobs": con.execute("SELECT count(*) FROM jobs").fetchone()[0],
            "usage_daily": con.execute("SELECT count(*) FROM usage_daily").fetchone()[0],
            "running_jobs": con.execute("SELECT cluster, job_id_raw, state FROM running_jobs").fetchall(),
        }
    finally:
        con.close()


def metadata(instance, asset: str) -> dict:
    return {
        m.partition_key: {k: v.value for k, v in m.asset_materialization.metadata.items()}
        for m in instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
    }


def test_ui_backfill_refreshes_views_and_running_jobs_and_records_each_days_figures(landed, sqlite_home, tmp_path):
    duckdb_store.publish_views(landed)  # an operator's deployment: views published before these days had data
    assert views(landed) == {"jobs": 0, "usage_daily": 0, "running_jobs": []}
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    def warehouse_job_after_the_backfill():
        deadline = time.monotonic() + SENSOR_TIMEOUT_S
        with dg.DagsterInstance.from_config(str(sqlite_home)) as instance:
            while True:
                runs = instance.get_runs(dg.RunsFilter(job_name="warehouse_job", statuses=FINISHED))
                if runs:
                    assert runs[0].is_success, (scratch / "ui_backfill.log").read_text()[-3000:]
                    return
                assert time.monotonic() < deadline, (scratch / "ui_backfill.log").read_text()[-3000:]
                time.sleep(2)

    result = ui_backfill.run(landed, DAYS, sqlite_home, scratch, free_port(), after=warehouse_job_after_the_backfill)
    assert result["runs"] == result["runs_succeeded"] == 1  # run() raises unless every run succeeded

    with dg.DagsterInstance.from_config(str(sqlite_home)) as instance:
        backfill_run = instance.get_run_by_id(result["run_ids"][0])
        refresh = instance.get_runs(dg.RunsFilter(job_name="warehouse_job"))
        assert len(refresh) == 1 and refresh[0].tags["dagster/sensor_name"] == "warehouse_sensor"
        ended = instance.get_run_record_by_id(backfill_run.run_id).end_time
        assert instance.get_run_record_by_id(refresh[0].run_id).start_time >= ended
        jobs, usage = metadata(instance, "jobs"), metadata(instance, "usage_daily")

    # fresh: the views see the backfilled days, running_jobs holds the last collection's running job
    usage_rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{landed}/warehouse/usage_daily/**/*.parquet')")
    assert views(landed) == {
        "jobs": 4,
        "usage_daily": usage_rows.fetchone()[0],
        "running_jobs": [("alpha", 4, "RUNNING")],
    }
    assert views(landed)["usage_daily"] > 0

    # each day's partition: that day's figures (day 1: jobs 1 and 70; day 2: jobs 2 and 3), the run's under run_*
    assert set(jobs) == set(usage) == set(DAYS)
    assert jobs["2024-05-01"]["dagster/row_count"] == 2 and jobs["2024-05-02"]["dagster/row_count"] == 2
    assert {c: f["rows"] for c, f in jobs["2024-05-01"]["by_cluster"].items()} == {"alpha": 1, "beta": 1}
    assert {c: f["rows"] for c, f in jobs["2024-05-02"]["by_cluster"].items() if f["rows"]} == {"alpha": 2}
    assert jobs["2024-05-02"]["by_cluster"]["alpha"]["jobs_by_state"] == {"COMPLETED": 1, "FAILED": 1}
    assert all(jobs[day]["run_row_count"] == 4 for day in DAYS)
    assert usage["2024-05-01"]["cpu_hours_by_cluster"] == {"alpha": 8.0, "beta": 48.0}
    assert usage["2024-05-02"]["cpu_hours_by_cluster"] == {"alpha": 36.0}
