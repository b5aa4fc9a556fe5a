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
from dagster._core.errors import raise_execution_interrupts
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.in_process import InProcessExecutor
from dagster._core.executor.multiprocess import MultiprocessExecutor
from dagster._utils import iterate_with_context

from slurm_assets import settings


@dg.executor(name="slurm_usage_executor", requirements=dg.multiple_process_executor_requirements())
def env_executor(_init_context) -> dg.Executor:
    """In-process, multiprocess or dask, as ``SLURM_USAGE_EXECUTOR`` says in the run's environment."""
    name = settings.executor()
    if name == "dask":
        return DaskStepsExecutor(settings.dask_scheduler())
    if name == "multiprocess":
        return MultiprocessExecutor(retries=RetryMode.ENABLED)
    return InProcessExecutor(retries=RetryMode.ENABLED)


class DaskStepsExecutor(dg.Executor):
    """dagster-dask's executor for an existing scheduler, with three fixes: a step's arguments travel as one
    pickled blob (dask >= 2024.12 walks tuples in task arguments and trips over Dagster's records:
    "Iteration is not allowed on `@record`"), and task keys carry the run id (dagster-dask's
    ``job.step`` keys would make two runs of one job on a scheduler share each other's results), and the
    worker subsets the job by the run's asset selection (``run_step``)."""

    def __init__(self, address: str):
        self.address = address

    @property
    def retries(self) -> RetryMode:
        return RetryMode.DISABLED

    def execute(self, plan_context, execution_plan):
        import cloudpickle
        import dask.distributed
        from dagster_dask.executor import get_dask_resource_requirements

        if not plan_context.instance.is_persistent:
            raise dg.DagsterInvariantViolationError("steps on dask workers need a persistent Dagster instance")
        run, futures = plan_context.dagster_run, {}
        with dask.distributed.Client(self.address) as client:
            for level in execution_plan.get_steps_to_execute_by_level():
                for step in level:
                    after = [futures[key] for step_input in step.step_inputs for key in step_input.dependency_keys]
                    payload = cloudpickle.dumps(
                        (
                            plan_context.reconstructable_job,
                            run,
                            plan_context.run_config,
                            [step.key],
                            plan_context.instance.get_ref(),
                            execution_plan.known_state,
                        )
                    )
                    futures[step.key] = client.submit(
                        run_step,
                        after,
                        payload,
                        key=f"{run.run_id}.{step.key}",
                        resources=get_dask_resource_requirements(step.tags),
                    )
            done = dask.distributed.as_completed(list(futures.values()), with_results=True)
            for _future, events in iterate_with_context(raise_execution_interrupts, done):
                yield from events


def run_step(_after: list, payload: bytes) -> list:
    """On a dask worker: one step (``_after``: the steps it waits for). Unlike dagster-dask's worker function,
    the job is subset by the run's asset and check selection too: the whole asset job mixes daily, monthly and
    unpartitioned assets, and a step of a daily range run would otherwise see a non-partitioned run."""
    import cloudpickle
    from dagster._core.execution.api import create_execution_plan, execute_plan

    recon_job, run, run_config, step_keys, instance_ref, known_state = cloudpickle.loads(payload)
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        if run.resolved_op_selection:
            job = recon_job.get_subset(op_selection=run.resolved_op_selection)
        elif run.asset_selection or run.asset_check_selection:
            job = recon_job.get_subset(
                asset_selection=run.asset_selection, asset_check_selection=run.asset_check_selection
            )
        else:
            job = recon_job
        plan = create_execution_plan(
            job, run_config=run_config, step_keys_to_execute=step_keys, known_state=known_state
        )
        return list(execute_plan(plan, job, instance, run, run_config=run_config))


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(executor=env_executor)
