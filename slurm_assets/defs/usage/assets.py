"""Daily usage apportioned to the UTC days jobs ran, and the DuckDB publisher (the single writer)."""

import dagster as dg

from slurm_assets.defs.metadata import column_schema
from slurm_assets.defs.partitions import daily_backfill_policy, daily_partitions
from slurm_assets.defs.resources import StorageResource
from slurm_assets.defs.threads import duckdb_share
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
    """Apportion each day's jobs over the days they ran; each day's materialization has that day's figures."""
    run = {name: {"rows": 0, "cpu": {}, "gpu": {}} for name in DESCRIPTIONS}
    with duckdb_share(context):
        for day, built in daily.process_usage_days(storage.path(), context.partition_keys):
            for name in DESCRIPTIONS:
                figures = usage_figures([tables[name] for tables in built.values()], with_cpu=name == "usage_daily")
                context.add_asset_metadata(figures, asset_key=name, partition_key=day)
                run[name]["rows"] += figures["dagster/row_count"]
                for key in ("cpu", "gpu"):
                    run[name][key] = quality.merge_counts(run[name][key], figures.get(f"{key}_hours_by_cluster", {}))
    yield dg.MaterializeResult(asset_key="usage_daily", metadata={
        "run_row_count": run["usage_daily"]["rows"], "run_cpu_hours_by_cluster": run["usage_daily"]["cpu"],
        "run_gpu_hours_by_cluster": run["usage_daily"]["gpu"]})
    yield dg.MaterializeResult(asset_key="gpu_usage_daily", metadata={
        "run_row_count": run["gpu_usage_daily"]["rows"], "run_gpu_hours_by_cluster": run["gpu_usage_daily"]["gpu"]})


def usage_figures(tables: list, with_cpu: bool) -> dict:
    """One day's rows and CPU-/GPU-hours per cluster over its clusters' tables."""
    cpu, gpu = {}, {}
    for table in tables:
        gpu = quality.merge_counts(gpu, quality.sum_by_cluster(table, "gpu_hours"))
        if with_cpu:
            cpu = quality.merge_counts(cpu, quality.sum_by_cluster(table, "cpu_hours"))
    figures = {"dagster/row_count": sum(t.num_rows for t in tables), "gpu_hours_by_cluster": gpu}
    return {**figures, "cpu_hours_by_cluster": cpu} if with_cpu else figures


@dg.asset(group_name="warehouse", kinds={"duckdb"}, deps=[t for t in TABLE_SCHEMAS if t not in WRITTEN_WITH], pool="duckdb_writer")
def warehouse_duckdb(storage: StorageResource) -> dg.MaterializeResult:
    """DuckDB file ``DATA_DIR/slurm_usage.duckdb`` with one view per table over the Parquet files.

    The only writer of that file (pool ``duckdb_writer``, limit 1); the dashboard reads
    the Parquet through its own in-memory DuckDB and never locks this file.
    """
    counts = duckdb_store.publish_views(storage.path())
    return dg.MaterializeResult(metadata={"rows_by_view": counts, "path": str(paths.duckdb_path(storage.path()))})
