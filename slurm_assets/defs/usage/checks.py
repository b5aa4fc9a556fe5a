"""usage_daily must account for exactly the CPU-hours of the jobs it was apportioned from."""

import dagster as dg

from slurm_assets.defs.resources import StorageResource
from slurm_assets.pipeline import quality
from slurm_assets.storage import warehouse


@dg.asset_check(asset="usage_daily", description="Per cluster, usage_daily CPU-hours sum to the jobs' CPU-hours.")
def usage_matches_jobs(context: dg.AssetCheckExecutionContext, storage: StorageResource) -> dg.AssetCheckResult:
    days = list(context.partition_keys)
    jobs, usage = (
        warehouse.read_days(storage.path(), t, days, ["cluster", "cpu_hours"]) for t in ("jobs", "usage_daily")
    )
    gaps = quality.usage_mismatch(jobs, usage)
    return dg.AssetCheckResult(
        passed=not gaps,
        metadata={
            "cpu_hours_gap_by_cluster": gaps,
            "jobs_cpu_hours_by_cluster": quality.sum_by_cluster(jobs, "cpu_hours"),
            "usage_cpu_hours_by_cluster": quality.sum_by_cluster(usage, "cpu_hours"),
        },
    )
