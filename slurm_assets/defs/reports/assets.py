"""``monthly_reports``: per cluster and per (cluster, account), a CSV and a PDF for each UTC month."""

import dagster as dg

from slurm_assets.defs.partitions import monthly_partitions
from slurm_assets.defs.resources import StorageResource
from slurm_assets.reports import monthly


@dg.asset(
    partitions_def=monthly_partitions,
    deps=["usage_daily", "gpu_usage_daily", "jobs", "drops"],
    group_name="reports",
    kinds={"pdf", "csv"},
)
def monthly_reports(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Files under DATA_DIR/reports/<YYYY-MM>/<cluster>/ (slurm_assets/reports/monthly.py), from the daily tables.

    A range of months (a backfill from the UI) runs one month per run; a month not over yet, or one whose
    drops stop early, is marked partial in its reports.
    """
    month = context.partition_key[:7]
    written = monthly.write_reports(storage.path(), month)
    clusters = sorted({p.parent.name for p in written})
    context.log.info(f"{month}: {len(written) // 2} report(s) for {len(clusters)} cluster(s)")
    return dg.MaterializeResult(metadata={
        "reports": len(written) // 2, "clusters": clusters, "folder": str(monthly.report_dir(storage.path(), month)),
    })
