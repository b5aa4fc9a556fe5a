"""Daily usage apportioned to the UTC days jobs ran, and the DuckDB publisher (the single writer)."""

import dagster as dg

from slurm_assets.defs.metadata import column_schema
from slurm_assets.defs.partitions import daily_backfill_policy, daily_partitions
from slurm_assets.defs.resources import StorageResource
from slurm_assets.pipeline import daily, quality
from slurm_assets.sacct.fields import TABLE_SCHEMAS, WRITTEN_WITH
from slurm_assets.storage import duckdb as duckdb_store
from slurm_assets.storage import paths

DESCRIPTIONS = {
    "usage_daily": "CPU-, GPU- and node-hours and jobs ended per cluster x day x user x account x partition x qos. "
    "Partition D holds the usage of the jobs that ended on D, apportioned to the UTC days they ran (the `date` "
    "column), so summing over all files by `date` gives each day's usage; sum over days = job totals.",
    "gpu_usage_daily": "GPU-hours by GPU type at the usage_daily grain (same partitioning).",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(name, description=text, deps=["jobs"], group_name="warehouse", kinds={"parquet"},
                     metadata=column_schema(name))
        for name, text in DESCRIPTIONS.items()
    ],
    partitions_def=daily_partitions,
    backfill_policy=daily_backfill_policy,
    name="usage_tables",
)
def usage_tables(context: dg.AssetExecutionContext, storage: StorageResource):
    """Apportion each day's jobs over the days they ran."""
    rows, cpu, gpu, gpu_rows, gpu_by_type = 0, {}, {}, 0, {}
    for _day, built in daily.process_usage_days(storage.path(), context.partition_keys):
        for tables in built.values():
            usage, by_type = tables["usage_daily"], tables["gpu_usage_daily"]
            rows, gpu_rows = rows + usage.num_rows, gpu_rows + by_type.num_rows
            cpu = quality.merge_counts(cpu, quality.sum_by_cluster(usage, "cpu_hours"))
            gpu = quality.merge_counts(gpu, quality.sum_by_cluster(usage, "gpu_hours"))
            gpu_by_type = quality.merge_counts(gpu_by_type, quality.sum_by_cluster(by_type, "gpu_hours"))
    yield dg.MaterializeResult(asset_key="usage_daily", metadata={
        "dagster/row_count": rows, "cpu_hours_by_cluster": cpu, "gpu_hours_by_cluster": gpu})
    yield dg.MaterializeResult(asset_key="gpu_usage_daily", metadata={
        "dagster/row_count": gpu_rows, "gpu_hours_by_cluster": gpu_by_type})


@dg.asset(group_name="warehouse", kinds={"duckdb"}, deps=[t for t in TABLE_SCHEMAS if t not in WRITTEN_WITH], pool="duckdb_writer")
def warehouse_duckdb(storage: StorageResource) -> dg.MaterializeResult:
    """DuckDB file ``DATA_DIR/slurm_usage.duckdb`` with one view per table over the Parquet files.

    The only writer of that file (pool ``duckdb_writer``, limit 1); the dashboard reads
    the Parquet through its own in-memory DuckDB and never locks this file.
    """
    counts = duckdb_store.publish_views(storage.path())
    return dg.MaterializeResult(metadata={"rows_by_view": counts, "path": str(paths.duckdb_path(storage.path()))})
