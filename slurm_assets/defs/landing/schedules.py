"""Pull the ssh-mode clusters daily: yesterday (now complete) and today (running jobs), one run."""

import datetime as dt

import dagster as dg

from slurm_assets.defs.partitions import daily_partitions


def ssh_pull_job():
    """``ssh_pull_job`` on the partitions of the current ``SLURM_USAGE_FIRST_DAY`` (built at load)."""
    return dg.define_asset_job(
        "ssh_pull_job",
        selection=dg.AssetSelection.assets("landing_pull"),
        partitions_def=daily_partitions(),
        description="Run the agent over SSH on every ssh-mode cluster for a range of days.",
        executor_def=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """This module's definitions (the autoloader takes only these), built at load, not import: the
    partitions start at ``SLURM_USAGE_FIRST_DAY``."""
    return dg.Definitions(jobs=[ssh_pull_job()], schedules=[ssh_pull_schedule])


def pull_window(scheduled: dt.datetime) -> tuple[str, str]:
    """The UTC days a pull at ``scheduled`` collects: the previous day and the scheduled day."""
    day = scheduled.astimezone(dt.UTC).date()
    return (day - dt.timedelta(days=1)).isoformat(), day.isoformat()


@dg.schedule(
    job_name="ssh_pull_job",
    cron_schedule="30 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def ssh_pull_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """00:30 UTC daily; the landing sensor then processes what was pulled."""
    first, last = pull_window(context.scheduled_execution_time)
    return dg.RunRequest(
        run_key=f"ssh-pull:{first}..{last}",
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )
