"""The per-day tables built from raw drops (``jobs``, ``quarantine``, ``drops``, ``capacity_daily``, ``associations``) and ``running_jobs``."""

import dagster as dg

from slurm_assets.defs.metadata import column_schema
from slurm_assets.defs.partitions import daily_backfill_policy, daily_partitions
from slurm_assets.defs.resources import StorageResource
from slurm_assets.pipeline import daily, quality

DESCRIPTIONS = {
    "jobs": "One row per finished job allocation, key (cluster, job_id_raw, submit_time). Partition D holds "
    "the jobs that ENDED on UTC day D, from every cluster's drops landed for D (deduplicated, latest "
    "collection wins). Files: warehouse/jobs/cluster=<c>/date=<D>/.",
    "quarantine": "Drop lines that failed parsing or validation on day D, with a reason code, detail and the raw "
    "line; an unreadable drop is one row with line_no 0.",
    "drops": "Catalogue of the drops landed for day D per cluster (source, window, collected_at, rows).",
    "capacity_daily": "CPUs, memory and GPUs per cluster x partition on day D, from the latest drop's inventory.",
    "associations": "Slurm's associations (account tree, user associations) and account coordinators per cluster "
    "on day D, from the latest drop's sacctmgr snapshot: the dashboard's roles.",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(name, description=text, deps=["landing_pull"], group_name="warehouse", kinds={"parquet"},
                     metadata=column_schema(name))
        for name, text in DESCRIPTIONS.items()
    ],
    partitions_def=daily_partitions,
    backfill_policy=daily_backfill_policy,
    name="daily_tables",
)
def daily_tables(context: dg.AssetExecutionContext, storage: StorageResource):
    """Parse, deduplicate and write each day in the run's partition range."""
    data_dir, summary, counts, by_day = storage.path(), {}, {name: {} for name in daily.DAY_TABLES}, {}
    last = context.partition_keys[-1]
    for i, (day, built) in enumerate(daily.process_days(data_dir, context.partition_keys)):  # parsed in batches
        for tables in built.values():
            summary = quality.merge_counts(summary, quality.cluster_summary(tables["jobs"], tables["quarantine"]))
            for name in daily.DAY_TABLES:
                counts[name] = quality.merge_counts(counts[name], quality.count_by_cluster(tables[name]))
        by_day[day] = {cluster: tables["jobs"].num_rows for cluster, tables in built.items()}
        if i % 10 == 0 or day == last:  # progress without one Dagster event per day (each costs ~15 ms)
            context.log.info(f"{day} ({i + 1}/{len(context.partition_keys)} days): jobs per cluster {by_day[day]}")
    common = {"days": len(context.partition_keys), "first_day": context.partition_keys[0],
              "last_day": context.partition_keys[-1]}
    yield dg.MaterializeResult(asset_key="jobs", metadata={
        **common, "dagster/row_count": sum(counts["jobs"].values()), "by_cluster": summary,
        "missing_drops": daily.missing_drops(data_dir, list(context.partition_keys)),
        "jobs_by_day": by_day,  # a range run records the same metadata on each of its partitions
    })
    for name in ("quarantine", "drops", "capacity_daily", "associations"):
        yield dg.MaterializeResult(asset_key=name, metadata={
            **common, "dagster/row_count": sum(counts[name].values()), "by_cluster": counts[name]})


@dg.asset(group_name="warehouse", kinds={"parquet"}, deps=["landing_pull"], metadata=column_schema("running_jobs"))
def running_jobs(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """The latest snapshot of running and pending jobs per cluster (unfinished jobs of each cluster's newest drop).

    Not partitioned: one file per cluster, replaced by every snapshot; finished jobs are only in ``jobs``.
    """
    snapshots = daily.build_running_jobs(storage.path())
    daily.write_running_jobs(storage.path(), snapshots)
    by_cluster = {c: {"rows": t.num_rows, "snapshot_day": d, "states": quality.states_by_cluster(t).get(c, {})}
                  for c, (d, t) in snapshots.items()}
    return dg.MaterializeResult(metadata={
        "dagster/row_count": sum(t.num_rows for _, t in snapshots.values()), "by_cluster": by_cluster,
    })
