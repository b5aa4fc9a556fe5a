"""Pull the ssh-mode clusters daily: yesterday (now complete) and today (running jobs), one run."""

import datetime as dt

import dagster as dg

from slurm_assets.defs.partitions import daily_partitions

ssh_pull_job = dg.define_asset_job(
    "ssh_pull_job", selection=dg.AssetSelection.assets("landing_pull"), partitions_def=daily_partitions,
    description="Run the agent over SSH on every ssh-mode cluster for a range of days.",
    executor_def=dg.in_process_executor,
)


def pull_window(scheduled: dt.datetime) -> tuple[str, str]:
    """The UTC days a pull at ``scheduled`` collects: the previous day and the scheduled day."""
    day = scheduled.astimezone(dt.UTC).date()
    return (day - dt.timedelta(days=1)).isoformat(), day.isoformat()


@dg.schedule(job=ssh_pull_job, cron_schedule="30 0 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def ssh_pull_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """00:30 UTC daily; the landing sensor then processes what was pulled."""
    first, last = pull_window(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"ssh-pull:{first}..{last}", tags={
        "dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last})
