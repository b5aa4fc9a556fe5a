"""Daily usage apportioned to the UTC days jobs ran, the DuckDB publisher (the single writer) and the monthly compacts."""

import dagster as dg

from slurm_assets.defs.metadata import step_asset_specs
from slurm_assets.defs.partitions import daily_backfill_policy, daily_partitions
from slurm_assets.defs.resources import StorageResource
from slurm_assets.defs.threads import duckdb_threads
from slurm_assets.pipeline import quality, usage_step
from slurm_assets.sacct.catalog import SPECS, USAGE_STEP, asset_tables, assets_of, compacted_tables
from slurm_assets.storage import compact, paths
from slurm_assets.storage import duckdb as duckdb_store


def usage_tables(context: dg.AssetExecutionContext, storage: StorageResource):
    """Apportion each day's jobs over the days they ran; each day's materialization has that day's figures."""
    run = {name: {"rows": 0, "cpu": {}, "gpu": {}} for name in assets_of(USAGE_STEP)}
    threads = duckdb_threads(context, storage)
    for day, built in usage_step.process_usage_days(storage.path(), context.partition_keys, threads):
        for name in assets_of(USAGE_STEP):
            figures = usage_figures([tables[name] for tables in built.values()], with_cpu=name == "usage_daily")
            context.add_asset_metadata(figures, asset_key=name, partition_key=day)
            run[name]["rows"] += figures["dagster/row_count"]
            for key in ("cpu", "gpu"):
                run[name][key] = quality.merge_counts(run[name][key], figures.get(f"{key}_hours_by_cluster", {}))
    yield dg.MaterializeResult(
        asset_key="usage_daily",
        metadata={
            "run_row_count": run["usage_daily"]["rows"],
            "run_cpu_hours_by_cluster": run["usage_daily"]["cpu"],
            "run_gpu_hours_by_cluster": run["usage_daily"]["gpu"],
        },
    )
    yield dg.MaterializeResult(
        asset_key="gpu_usage_daily",
        metadata={
            "run_row_count": run["gpu_usage_daily"]["rows"],
            "run_gpu_hours_by_cluster": run["gpu_usage_daily"]["gpu"],
        },
    )


def usage_figures(tables: list, with_cpu: bool) -> dict:
    """One day's rows and CPU-/GPU-hours per cluster over its clusters' tables."""
    cpu, gpu = {}, {}
    for table in tables:
        gpu = quality.merge_counts(gpu, quality.sum_by_cluster(table, "gpu_hours"))
        if with_cpu:
            cpu = quality.merge_counts(cpu, quality.sum_by_cluster(table, "cpu_hours"))
    figures = {"dagster/row_count": sum(t.num_rows for t in tables), "gpu_hours_by_cluster": gpu}
    return {**figures, "cpu_hours_by_cluster": cpu} if with_cpu else figures


def usage_tables_asset() -> dg.AssetsDefinition:
    """The usage step's multi-asset on the partitions of the current ``SLURM_USAGE_FIRST_DAY``."""
    return dg.multi_asset(
        specs=step_asset_specs(USAGE_STEP, deps=["jobs"]),
        partitions_def=daily_partitions(),
        backfill_policy=daily_backfill_policy,
        name=USAGE_STEP,
    )(usage_tables)


@dg.definitions
def defs() -> dg.Definitions:
    """This module's definitions (the autoloader takes only these), built at load, not import: the
    partitions start at ``SLURM_USAGE_FIRST_DAY``."""
    return dg.Definitions(assets=[usage_tables_asset(), warehouse_duckdb, monthly_compacts])


@dg.asset(group_name="warehouse", kinds={"duckdb"}, deps=list(asset_tables()), pool="duckdb_writer")
def warehouse_duckdb(storage: StorageResource) -> dg.MaterializeResult:
    """DuckDB file ``DATA_DIR/slurm_usage.duckdb`` with one view per table over the Parquet files.

    The only writer of that file (pool ``duckdb_writer``, limit 1); the dashboard reads
    the Parquet through its own in-memory DuckDB and never locks this file.
    """
    counts = duckdb_store.publish_views(storage.path())
    return dg.MaterializeResult(metadata={"rows_by_view": counts, "path": str(paths.duckdb_path(storage.path()))})


@dg.asset(group_name="warehouse", kinds={"parquet"}, deps=sorted({SPECS[t].asset for t in compacted_tables()}))
def monthly_compacts(storage: StorageResource) -> dg.MaterializeResult:
    """One Parquet file per (table, cluster, complete month) of the tables the dashboard copies
    (storage/compact.py): a dashboard without its local copy opens these instead of a file per day.

    Current compacts are kept, stale ones (a day rewritten since) written again; readers check that a
    compact still matches the daily files, so a stale one is never read.
    """
    counts = compact.compact_all(storage.path())
    return dg.MaterializeResult(metadata={"compacts_by_table": counts})
