"""Protects DuckDB's CPU share for daemon-launched runs: a run alone keeps every CPU; runs queued or running
side by side split them, never more ways than the instance's max_concurrent_runs; a share chosen by
``process --workers`` (the storage resource's duckdb_threads) is kept."""

import shutil

import dagster as dg

from slurm_assets.defs.resources import StorageResource
from slurm_assets.defs.threads import duckdb_threads, runs_side_by_side
from slurm_assets_tests.defs.production import ROOT


@dg.op
def noop():
    return None


@dg.job
def tiny():
    noop()


def local_instance(tmp_path):
    shutil.copy(ROOT / "deploy" / "dagster.local.yaml", tmp_path / "dagster.yaml")  # max_concurrent_runs: 2
    return dg.DagsterInstance.from_config(str(tmp_path))


def start(instance, n):  # runs recorded as started (queued ones need a code location)
    for _ in range(n):
        instance.create_run_for_job(tiny, status=dg.DagsterRunStatus.STARTED)


def test_runs_side_by_side_is_capped_by_the_queue_limit(tmp_path):
    with local_instance(tmp_path) as instance:
        assert runs_side_by_side(instance) == 1  # nothing active: a run alone
        start(instance, 1)
        assert runs_side_by_side(instance) == 1
        start(instance, 3)
        assert runs_side_by_side(instance) == 2  # 4 active, at most 2 run at once
    assert runs_side_by_side(dg.DagsterInstance.ephemeral()) == 1  # no run queue (execute_in_process, tests)


def test_share_for_the_run_and_a_chosen_share_is_kept(tmp_path, monkeypatch):
    class Context:  # what duckdb_threads reads: the instance and a logger
        log = dg.get_dagster_logger()

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    with local_instance(tmp_path) as instance:
        Context.instance = instance
        assert duckdb_threads(Context(), StorageResource()) is None  # alone: DuckDB's default, every CPU
        start(instance, 3)
        assert duckdb_threads(Context(), StorageResource()) == 4
        assert duckdb_threads(Context(), StorageResource(duckdb_threads=1)) == 1  # process --workers chose
