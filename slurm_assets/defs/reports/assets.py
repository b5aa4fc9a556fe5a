"""``monthly_reports``: per cluster and per (cluster, account), a CSV and a PDF for each UTC month."""

import dagster as dg

from slurm_assets.defs.partitions import monthly_partitions
from slurm_assets.defs.resources import StorageResource
from slurm_assets.reports import monthly
from slurm_assets.sacct.catalog import REPORT_SPECS

SPEC = REPORT_SPECS["monthly_reports"]


def monthly_reports(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Files under DATA_DIR/reports/<YYYY-MM>/<cluster>/ (slurm_assets/reports/monthly.py), from the daily tables.

    A range of months (a backfill from the UI) runs one month per run; a month not over yet, or one whose
    drops do not cover it, is marked partial in its reports.
    """
    month = context.partition_key[:7]
    written = monthly.write_reports(storage.path(), month)
    clusters = sorted({p.parent.name for p in written})
    context.log.info(f"{month}: {len(written) // 2} report(s) for {len(clusters)} cluster(s)")
    return dg.MaterializeResult(
        metadata={
            "reports": len(written) // 2,
            "clusters": clusters,
            "folder": str(monthly.report_dir(storage.path(), month)),
        }
    )


def monthly_reports_asset() -> dg.AssetsDefinition:
    """The asset as the catalogue describes it (name, description, deps on the tables it reads)."""
    return dg.asset(
        name=SPEC.name,
        partitions_def=monthly_partitions(),
        deps=list(SPEC.deps),
        description=SPEC.description,
        group_name="reports",
        kinds={"pdf", "csv"},
    )(monthly_reports)


@dg.definitions
def defs() -> dg.Definitions:
    """This module's definitions, built at load (the partitions read SLURM_USAGE_FIRST_DAY then)."""
    return dg.Definitions(assets=[monthly_reports_asset()])
