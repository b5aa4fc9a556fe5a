"""DuckDB's share of the CPUs for a run the daemon launched next to others (as ``process --workers`` gives
its run workers): ``cpu_count / N`` threads while N of the instance's runs are queued or running, N at
most its ``max_concurrent_runs``. A run alone keeps every CPU; ``process`` sets its own share."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from slurm_assets.pipeline.cpu_share import share_machine
from slurm_assets.sacct import units

ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]


def runs_side_by_side(instance: dg.DagsterInstance) -> int:
    """How many runs share the machine now: active runs, capped by the run queue's limit (1 without a queue)."""
    queue = instance.get_concurrency_config().run_queue_config
    if queue is None or not queue.max_concurrent_runs or queue.max_concurrent_runs <= 1:
        return 1
    return max(1, min(queue.max_concurrent_runs, instance.get_runs_count(dg.RunsFilter(statuses=ACTIVE))))


@contextmanager
def duckdb_share(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Within the block, DuckDB uses this run's share of the CPUs (unless the process already set one)."""
    if units.THREADS is not None:  # process --workers, or a test, chose already
        yield
        return
    runs = runs_side_by_side(context.instance)
    if runs > 1:
        share_machine(runs)
        context.log.info(f"{runs} runs side by side: DuckDB uses {units.THREADS} thread(s)")
    try:
        yield
    finally:
        units.THREADS = None
