"""The tables of the day step (built from raw drops: ``jobs`` and what is written with it; the catalogue's DAY_STEP)
and ``running_jobs``."""

import dagster as dg

from slurm_assets.defs.metadata import column_schema, step_asset_specs
from slurm_assets.defs.partitions import daily_backfill_policy, daily_partitions
from slurm_assets.defs.resources import StorageResource
from slurm_assets.defs.threads import duckdb_threads
from slurm_assets.pipeline import day_step, load, quality, snapshot
from slurm_assets.sacct.catalog import DAY_STEP, SNAPSHOT_STEP, SPECS, assets_of


def daily_tables(context: dg.AssetExecutionContext, storage: StorageResource):
    """Parse, deduplicate and write each day in the run's partition range.

    Each day's materialization carries that day's own figures (``dagster/row_count``, ``by_cluster``,
    ``missing_drops``); the run's totals are under ``run_*`` keys, the same on every day of the run.
    """
    data_dir, days = storage.path(), list(context.partition_keys)
    summary, counts, by_day = {}, {name: {} for name in assets_of(DAY_STEP)}, {}
    missing = load.missing_drops(data_dir, days)
    threads = duckdb_threads(context, storage)
    for i, (day, built) in enumerate(day_step.process_days(data_dir, days, threads)):  # parsed in batches
        figures = day_figures(context, day, built, missing)
        summary = quality.merge_counts(summary, figures["summary"])
        for name in assets_of(DAY_STEP):
            counts[name] = quality.merge_counts(counts[name], figures[name])
        by_day[day] = figures["jobs_by_cluster"]
        if i % 10 == 0 or day == days[-1]:  # progress, not one Dagster event per day (their cost: bench/README.md)
            context.log.info(f"{day} ({i + 1}/{len(days)} days): jobs per cluster {by_day[day]}")
    common = {"days": len(days), "first_day": days[0], "last_day": days[-1]}
    yield dg.MaterializeResult(
        asset_key="jobs",
        metadata={
            **common,
            "run_row_count": sum(counts["jobs"].values()),
            "run_by_cluster": summary,
            "run_missing_drops": missing,
            "jobs_by_day": by_day,
        },
    )
    for name in (n for n in assets_of(DAY_STEP) if n != "jobs"):
        yield dg.MaterializeResult(
            asset_key=name,
            metadata={**common, "run_row_count": sum(counts[name].values()), "run_by_cluster": counts[name]},
        )


def day_figures(context: dg.AssetExecutionContext, day: str, built: dict, missing: dict) -> dict:
    """Record one day's own figures on its partitions; return them (per table and the jobs summary) for the run's."""
    summary, counts = {}, {name: {} for name in assets_of(DAY_STEP)}
    for tables in built.values():
        summary = quality.merge_counts(summary, quality.cluster_summary(tables["jobs"], tables["quarantine"]))
        for name in assets_of(DAY_STEP):
            counts[name] = quality.merge_counts(counts[name], quality.count_by_cluster(tables[name]))
    for name in assets_of(DAY_STEP):
        context.add_asset_metadata(
            day_metadata(counts[name], summary if name == "jobs" else None), asset_key=name, partition_key=day
        )
    context.add_asset_metadata(
        {"missing_drops": {c: [day] for c, gaps in missing.items() if day in gaps}}, asset_key="jobs", partition_key=day
    )
    jobs_by_cluster = {cluster: tables["jobs"].num_rows for cluster, tables in built.items()}
    return {**counts, "summary": summary, "jobs_by_cluster": jobs_by_cluster}


def day_metadata(rows_by_cluster: dict[str, int], jobs_summary: dict | None) -> dict:
    """One day's figures for its partition: rows, and per cluster the rows (or the jobs summary)."""
    return {
        "dagster/row_count": sum(rows_by_cluster.values()),
        "by_cluster": rows_by_cluster if jobs_summary is None else jobs_summary,
    }


def daily_tables_asset() -> dg.AssetsDefinition:
    """The day step's multi-asset on the partitions of the current ``SLURM_USAGE_FIRST_DAY``."""
    return dg.multi_asset(
        specs=step_asset_specs(DAY_STEP, deps=["landing_pull"]),
        partitions_def=daily_partitions(),
        backfill_policy=daily_backfill_policy,
        name=DAY_STEP,
    )(daily_tables)


@dg.definitions
def defs() -> dg.Definitions:
    """This module's definitions (the autoloader takes only these), built at load, not import: the
    partitions start at ``SLURM_USAGE_FIRST_DAY``."""
    return dg.Definitions(assets=[daily_tables_asset(), running_jobs])


@dg.asset(
    name=SNAPSHOT_STEP,
    group_name="warehouse",
    kinds={"parquet"},
    deps=["landing_pull"],
    metadata=column_schema("running_jobs"),
    description=SPECS["running_jobs"].description,
)
def running_jobs(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """Each cluster's running-jobs snapshot written in place (the catalogue's description says what it holds)."""
    snapshots = snapshot.build_running_jobs(storage.path())
    snapshot.write_running_jobs(storage.path(), snapshots)
    by_cluster = {
        c: {"rows": t.num_rows, "snapshot_day": d, "states": quality.states_by_cluster(t).get(c, {})}
        for c, (d, t) in snapshots.items()
    }
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(t.num_rows for _, t in snapshots.values()),
            "by_cluster": by_cluster,
        }
    )
