"""Watch the landing zone: request runs for the days whose set of drops changed since the cursor; after each
successful run that wrote day tables (sensor runs and UI backfills alike), refresh ``running_jobs``, the
DuckDB views and the monthly compacts."""

import dagster as dg

from slurm_assets.defs.partitions import daily_backfill_policy, daily_partitions
from slurm_assets.defs.resources import StorageResource
from slurm_assets.sacct import catalog
from slurm_assets.storage import landing, state

IMPLICIT_ASSET_JOB = "__ASSET_JOB"  # Dagster's name for the job the UI materializes assets with


def daily_tables_job():
    """``daily_tables_job`` on the partitions of the current ``SLURM_USAGE_FIRST_DAY`` (built at load)."""
    return dg.define_asset_job(
        "daily_tables_job",
        selection=dg.AssetSelection.assets(*catalog.daily_assets()),
        partitions_def=daily_partitions(),
        description="Per-day tables for a range of days (one run per range; checks included).",
    )  # executor: the code location's (defs/executor.py), like the UI's asset job


@dg.definitions
def defs() -> dg.Definitions:
    """This module's definitions (the autoloader takes only these), built at load, not import: the
    partitions start at ``SLURM_USAGE_FIRST_DAY``."""
    return dg.Definitions(jobs=[daily_tables_job(), warehouse_job], sensors=[landing_sensor, warehouse_sensor])


warehouse_job = dg.define_asset_job(
    "warehouse_job",
    selection=dg.AssetSelection.assets(*catalog.snapshot_tables(), "warehouse_duckdb", "monthly_compacts"),
    description="Latest running-jobs snapshot, the DuckDB views (the single DuckDB writer) and the monthly compacts.",
)


@dg.sensor(job_name="daily_tables_job", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sensor(context: dg.SensorEvaluationContext, storage: StorageResource):
    """One run per batch of days with new drops (range tags): neither processed (``state.processed_days``, as
    ``process`` decides) nor requested before (JSON cursor ``{"days": {day: digest}}``)."""
    known = set(daily_partitions().get_partition_keys())
    listing = [(d.cluster, d.day, d.drop_id) for d in landing.list_drops(storage.path())]
    outside = sorted({day for _, day, _ in listing if day not in known})
    if outside:  # e.g. a drop dated before SLURM_USAGE_FIRST_DAY, or in the future (clock skew)
        context.log.warning(
            f"landing days outside the daily partitions (SLURM_USAGE_FIRST_DAY.."
            f"tomorrow) are not processed: {outside[:10]}"
        )
    listing = [item for item in listing if item[1] in known]
    span = daily_backfill_policy.max_partitions_per_run or 100
    processed = state.processed_days(storage.path(), listing)  # the runs' record, whoever launched them
    decision = landing.decide_landing_runs(listing, context.cursor, span, processed)
    for first, last, run_key in decision.ranges:
        yield dg.RunRequest(
            run_key=run_key,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )
    # A drop quarantined whole whose files were replaced by a corrected copy (same id, so the same listing):
    # its day once more; the run key names the new copy, so each copy is processed once.
    for day, digest in state.changed_quarantined(storage.path()).items():
        if day in known and not any(first <= day <= last for first, last, _ in decision.ranges):
            yield dg.RunRequest(
                run_key=f"quarantine-retry:{day}:{digest}",
                tags={"dagster/asset_partition_range_start": day, "dagster/asset_partition_range_end": day},
            )
    context.update_cursor(decision.cursor)


def writes_tables(run: dg.DagsterRun) -> bool:
    """A run that wrote day tables: ``daily_tables_job``, or the UI's asset job (a backfill, "Materialize")
    with one of them selected or no selection recorded (the whole graph); never ``warehouse_job``."""
    if run.job_name == "daily_tables_job":
        return True
    if not run.job_name.startswith(IMPLICIT_ASSET_JOB):
        return False
    selected = {key.to_user_string() for key in run.asset_selection or ()}
    return not selected or bool(selected & set(catalog.daily_assets()))


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS, request_job=warehouse_job, default_status=dg.DefaultSensorStatus.RUNNING
)
def warehouse_sensor(context: dg.RunStatusSensorContext):
    """After any run that changed the day tables (sensor runs, UI backfills): the running-jobs snapshot and the
    DuckDB views (which must see new tables). Watches every job of the code location and filters."""
    if not writes_tables(context.dagster_run):
        return dg.SkipReason(f"run {context.dagster_run.run_id} ({context.dagster_run.job_name}) wrote no day tables")
    return dg.RunRequest(run_key=f"warehouse-after:{context.dagster_run.run_id}")
