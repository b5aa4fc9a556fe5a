"""DuckDB's share of the CPUs for a run: ``storage.duckdb_threads`` when the launcher set it (``process
--workers`` gives each run worker its share), else ``cpu_count / N`` threads while N of the instance's runs
are queued or running, N at most its ``max_concurrent_runs``; a run alone keeps every CPU (None).
The count is passed down to every DuckDB connection of the run (``units.connect(threads)``)."""

import dagster as dg

from slurm_assets.defs.resources import StorageResource
from slurm_assets.pipeline.cpu_share import threads_for

ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def runs_side_by_side(instance: dg.DagsterInstance) -> int:
    """How many runs share the machine now: active runs, capped by the run queue's limit (1 without a queue)."""
    queue = instance.get_concurrency_config().run_queue_config
    if queue is None or not queue.max_concurrent_runs or queue.max_concurrent_runs <= 1:
        return 1
    return max(1, min(queue.max_concurrent_runs, instance.get_runs_count(dg.RunsFilter(statuses=ACTIVE))))


def duckdb_threads(context: dg.AssetExecutionContext, storage: StorageResource) -> int | None:
    """This run's DuckDB threads (None: DuckDB's default, every CPU)."""
    if storage.duckdb_threads > 0:  # process --workers, or a test, chose already
        return storage.duckdb_threads
    runs = runs_side_by_side(context.instance)
    if runs <= 1:
        return None
    threads = threads_for(runs)
    context.log.info(f"{runs} runs side by side: DuckDB uses {threads} thread(s)")
    return threads
