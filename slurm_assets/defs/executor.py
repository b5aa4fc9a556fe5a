"""The executor of every job in the code location, including the UI's asset job (backfills, "Materialize").

Chosen when a run starts, in the run's process, from ``SLURM_USAGE_EXECUTOR`` (``settings.executor``), so
loading the code location reads no environment: in-process by default, because the steps are few and
coarse and a subprocess per step cost a UI backfill more than its work (issue 16); ``multiprocess``
runs a subprocess per step; ``dask`` sends each step to the workers of the dask scheduler at
``SLURM_USAGE_DASK_SCHEDULER``, on any host. Steps keep no state between them outside DATA_DIR and the
instance's database, so any worker can run any step. ``execute_in_process`` (``process``, tests) always
runs in-process.
"""

import dagster as dg
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.in_process import InProcessExecutor
from dagster._core.executor.multiprocess import MultiprocessExecutor

from slurm_assets import settings


@dg.executor(name="slurm_usage_executor", requirements=dg.multiple_process_executor_requirements())
def env_executor(_init_context) -> dg.Executor:
    """In-process, multiprocess or dask, as ``SLURM_USAGE_EXECUTOR`` says in the run's environment."""
    name = settings.executor()
    if name == "dask":
        from dagster_dask.executor import DaskExecutor  # imported only when used: dask is heavy

        return DaskExecutor("existing", {"address": settings.dask_scheduler()})
    if name == "multiprocess":
        return MultiprocessExecutor(retries=RetryMode.ENABLED)
    return InProcessExecutor(retries=RetryMode.ENABLED)


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(executor=env_executor)
