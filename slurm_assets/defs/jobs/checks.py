"""Checks on the per-day tables of the run's partitions; metadata is per cluster."""

import dagster as dg

from slurm_assets.defs.resources import StorageResource
from slurm_assets.pipeline import quality
from slurm_assets.storage import warehouse

# More than this share of a cluster's drop lines quarantined on a day means a format problem, not noise.
MAX_QUARANTINE_SHARE = 0.01


@dg.asset_check(asset="jobs", description="Every (cluster, job_id_raw, submit_time) appears once.")
def jobs_keys_unique(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
    jobs = warehouse.read_days(storage.path(), "jobs", list(context.partition_keys), quality.JOB_KEY)
    dupes = quality.duplicate_job_keys(jobs)
    return dg.AssetCheckResult(
        passed=not dupes,
        metadata={"duplicate_rows_by_cluster": dupes, "rows_by_cluster": quality.count_by_cluster(jobs)},
    )


@dg.asset_check(asset="jobs", description="end >= start, elapsed_s >= 0 and wait_s >= 0 for every job.")
def jobs_durations_non_negative(
    context: dg.AssetCheckExecutionContext, storage: StorageResource
) -> dg.AssetCheckResult:
    columns = ["cluster", "start_time", "end_time", "elapsed_s", "wait_s"]
    bad = quality.bad_durations(warehouse.read_days(storage.path(), "jobs", list(context.partition_keys), columns))
    return dg.AssetCheckResult(passed=not bad, metadata={"bad_rows_by_cluster": bad})


@dg.asset_check(
    asset="quarantine",
    description=f"Quarantined lines are under {MAX_QUARANTINE_SHARE:.0%} of each cluster's drop lines.",
)
def quarantine_share_below_threshold(
    context: dg.AssetCheckExecutionContext, storage: StorageResource
) -> dg.AssetCheckResult:
    days = list(context.partition_keys)
    quarantine = warehouse.read_days(storage.path(), "quarantine", days, ["cluster", "reason"])
    shares = quality.quarantine_shares(
        quarantine, warehouse.read_days(storage.path(), "drops", days, ["cluster", "rows"])
    )
    reasons = quality.states_by_cluster(
        quarantine.rename_columns(["state" if n == "reason" else n for n in quarantine.column_names])
    )
    return dg.AssetCheckResult(
        passed=all(s <= MAX_QUARANTINE_SHARE for s in shares.values()),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_by_cluster": quality.count_by_cluster(quarantine),
            "share_by_cluster": {c: round(s, 6) for c, s in shares.items()},
            "reasons_by_cluster": reasons,
        },
    )


@dg.asset_check(
    asset="quarantine",
    description="No drop of these days was quarantined whole (bad manifest, "
    "unreadable gzip, sha256 mismatch): such a drop's jobs are missing until it is sent again.",
)
def no_drop_quarantined_whole(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
    columns = ["cluster", "date", "drop_id", "line_no", "reason", "detail"]
    rows = warehouse.read_days(storage.path(), "quarantine", list(context.partition_keys), columns)
    whole = quality.whole_drops(rows)
    return dg.AssetCheckResult(
        passed=not whole,
        metadata={
            "drops_by_cluster": {c: len(drops) for c, drops in whole.items()},
            "drops": {c: drops[:20] for c, drops in whole.items()},  # the first 20 per cluster, with the reason
        },
    )
