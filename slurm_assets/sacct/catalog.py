"""The table catalogue (DESIGN.md "Tables"): one ``TableSpec`` per warehouse table; every list of tables derives from it.

The Dagster asset specs and jobs (``defs/``), the pipeline steps' table lists (``pipeline/``),
the DuckDB views (``storage/warehouse.py``) and the tables the dashboard copies in
(``storage/dashboard_store.py``) all read this catalogue, so adding a table is a schema in
``fields.py``, a spec here, the rule that builds its rows and one line in its step
(docs/ARCHITECTURE.md "Adding a table").
"""

from dataclasses import dataclass

import pyarrow as pa

from slurm_assets.sacct.fields import (
    ASSOCIATIONS_SCHEMA,
    CAPACITY_DAILY_SCHEMA,
    DROPS_SCHEMA,
    GPU_USAGE_DAILY_SCHEMA,
    JOB_SUMMARY_SCHEMA,
    JOBS_SCHEMA,
    QUARANTINE_SCHEMA,
    RUNNING_JOBS_SCHEMA,
    USAGE_DAILY_SCHEMA,
)

# Producing steps: the Dagster op that writes a table (a multi-asset's name, or the asset's own).
DAY_STEP = "daily_tables"  # drops of a landing day -> jobs and what comes with them (pipeline/day_step.py)
USAGE_STEP = "usage_tables"  # a day's jobs apportioned over the days they ran (pipeline/usage_step.py)
SNAPSHOT_STEP = "running_jobs"  # each cluster's latest unfinished jobs (pipeline/snapshot.py)
STEPS = (DAY_STEP, USAGE_STEP, SNAPSHOT_STEP)

# Partitioning: the folder layout under warehouse/<table>/ (storage/paths.py).
DAILY = "daily"  # cluster=<c>/date=<D>/part-0.parquet, D = the Dagster partition
SNAPSHOT = "snapshot"  # cluster=<c>/latest/part-0.parquet, replaced in place


@dataclass(frozen=True)
class TableSpec:
    """One warehouse table: what it holds and which step writes it where."""

    name: str
    schema: pa.Schema
    description: str
    step: str  # one of STEPS
    partitioning: str  # DAILY or SNAPSHOT
    sort_key: tuple[str, ...]  # rows of each file are ordered by these columns (ascending)
    dashboard_copy: bool = True  # the dashboard copies the table in (False: queried from its Parquet files)
    written_with: str | None = None  # written by the step of that table's asset, not an asset of its own

    @property
    def compacted(self) -> bool:
        """Also kept as monthly compacts (storage/compact.py: ``warehouse/_monthly/<table>/cluster=<c>/month=<M>/``,
        written by ``monthly_compacts``): the daily tables the dashboard copies in, so a cold start opens a
        file per month instead of one per day. The daily files stay the source of truth."""
        return self.dashboard_copy and self.partitioning == DAILY

    @property
    def asset(self) -> str:
        """The Dagster asset whose materialization writes this table."""
        return self.written_with or self.name


_JOBS_KEY = ("job_id_raw", "submit_time")
_USAGE_KEY = ("date", "user", "account", "partition", "qos")

TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "jobs",
        JOBS_SCHEMA,
        "One row per finished job allocation, key (cluster, job_id_raw, submit_time). Partition D holds "
        "the jobs that ENDED on UTC day D, from every cluster's drops landed for D (deduplicated, latest "
        "collection wins). Files: warehouse/jobs/cluster=<c>/date=<D>/.",
        DAY_STEP,
        DAILY,
        _JOBS_KEY,
        dashboard_copy=False,  # 10M jobs stay on disk, aggregated in SQL only
    ),
    TableSpec(
        "running_jobs",
        RUNNING_JOBS_SCHEMA,
        "The latest snapshot of running and pending jobs per cluster (unfinished jobs of each cluster's newest "
        "drop). Not partitioned: one file per cluster, replaced by every snapshot; finished jobs are only in jobs.",
        SNAPSHOT_STEP,
        SNAPSHOT,
        _JOBS_KEY,
    ),
    TableSpec(
        "usage_daily",
        USAGE_DAILY_SCHEMA,
        "CPU-, GPU- and node-hours and jobs ended per cluster x day x user x account x partition x qos. "
        "Partition D holds the usage of the jobs that ended on D, apportioned to the UTC days they ran (the `date` "
        "column), so summing over all files by `date` gives each day's usage; sum over days = job totals.",
        USAGE_STEP,
        DAILY,
        _USAGE_KEY,
    ),
    TableSpec(
        "gpu_usage_daily",
        GPU_USAGE_DAILY_SCHEMA,
        "GPU-hours by GPU type at the usage_daily grain (same partitioning).",
        USAGE_STEP,
        DAILY,
        (*_USAGE_KEY, "gpu_type"),
    ),
    TableSpec(
        "capacity_daily",
        CAPACITY_DAILY_SCHEMA,
        "CPUs, memory and GPUs per cluster x partition on day D, from the latest drop's inventory; on days "
        "without one (backfilled, imported), slurmdbd's figures for the whole cluster (partition '', source "
        "slurmdbd: sreport cluster utilization TRES-seconds as printed, events).",
        DAY_STEP,
        DAILY,
        ("partition",),
    ),
    TableSpec(
        "quarantine",
        QUARANTINE_SCHEMA,
        "Drop lines that failed parsing or validation on day D, with a reason code, detail and the raw "
        "line; an unreadable drop is one row with line_no 0.",
        DAY_STEP,
        DAILY,
        ("drop_id", "line_no"),
    ),
    TableSpec(
        "drops",
        DROPS_SCHEMA,
        "Catalogue of the drops landed for day D per cluster (source, window, collected_at, rows).",
        DAY_STEP,
        DAILY,
        ("drop_id",),
    ),
    TableSpec(
        "job_summary",
        JOB_SUMMARY_SCHEMA,
        "Per end day: jobs and the sums of every job-level dashboard figure by the page dimensions and fixed "
        "buckets (sacct/summary.py), one file per (cluster, day), written with jobs.",
        DAY_STEP,
        DAILY,
        (
            "user",
            "account",
            "partition",
            "qos",
            "state",
            "size_bucket",
            "nodes_bucket",
            "gpus_bucket",
            "wall_bucket",
            "wait_bucket",
        ),
        written_with="jobs",
    ),
    TableSpec(
        "associations",
        ASSOCIATIONS_SCHEMA,
        "Slurm's associations (account tree, user associations) and account coordinators per cluster "
        "on day D, from the latest drop's sacctmgr snapshot: the dashboard's roles.",
        DAY_STEP,
        DAILY,
        ("kind", "account", "parent", "user"),  # kind in sacct/associations.py KINDS order
    ),  # copied into the dashboard: its roles (streamlit_app/data/scope.py)
)

SPECS: dict[str, TableSpec] = {spec.name: spec for spec in TABLES}
TABLE_SCHEMAS: dict[str, pa.Schema] = {spec.name: spec.schema for spec in TABLES}
# Tables written by the step (Dagster asset) of another table, not assets of their own.
WRITTEN_WITH: dict[str, str] = {spec.name: spec.written_with for spec in TABLES if spec.written_with}


def tables_of(step: str) -> tuple[str, ...]:
    """The tables a step writes, in catalogue order."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}: expected one of {STEPS}")
    return tuple(spec.name for spec in TABLES if spec.step == step)


def assets_of(step: str) -> tuple[str, ...]:
    """The Dagster assets a step materializes (its tables minus those written with another one)."""
    return tuple(name for name in tables_of(step) if not SPECS[name].written_with)


def asset_tables() -> tuple[str, ...]:
    """Every table that is a Dagster asset of its own."""
    return tuple(spec.name for spec in TABLES if not spec.written_with)


def daily_assets() -> tuple[str, ...]:
    """The per-day assets: what a day-range run (``daily_tables_job``) materializes."""
    return tuple(spec.name for spec in TABLES if not spec.written_with and spec.partitioning == DAILY)


def compacted_tables() -> tuple[str, ...]:
    """The tables kept as monthly compacts too (``TableSpec.compacted``)."""
    return tuple(spec.name for spec in TABLES if spec.compacted)


def snapshot_tables() -> tuple[str, ...]:
    return tuple(spec.name for spec in TABLES if spec.partitioning == SNAPSHOT)


def dashboard_tables() -> tuple[str, ...]:
    """The tables the dashboard copies into its own database (the others stay views over their files)."""
    return tuple(spec.name for spec in TABLES if spec.dashboard_copy)


# --- report artefacts ------------------------------------------------------------------------
# A report is not a table: it is files for people (CSV + PDF per cluster and account), not Parquet
# rows under warehouse/ with a schema, never a DuckDB view nor in the dashboard's copy. It is in the
# catalogue all the same, so its Dagster asset (name, partitioning, deps on the tables it reads, the
# folder it writes) derives from here like a table's.
MONTHLY = "monthly"  # DATA_DIR/<folder>/<YYYY-MM>/<cluster>/..., the Dagster partition = the month's first day


@dataclass(frozen=True)
class ReportSpec:
    """One report artefact: the tables it is built from and where its files go."""

    name: str
    description: str
    partitioning: str  # MONTHLY
    reads: tuple[str, ...]  # catalogue tables (their assets are the report asset's deps)
    folder: str  # under DATA_DIR

    @property
    def deps(self) -> tuple[str, ...]:
        """The Dagster assets that write the tables this report reads."""
        return tuple(sorted({SPECS[name].asset for name in self.reads}))


REPORTS: tuple[ReportSpec, ...] = (
    ReportSpec(
        "monthly_reports",
        "Per UTC month, per cluster and per (cluster, account): a CSV and a one-page PDF with the totals "
        "(CPU-, GPU-, node-hours, jobs ended), the month's chart, top users, GPU-hours by type, efficiency and "
        "the partial-month mark, all from the daily tables (slurm_assets/reports/monthly.py). Files: "
        "reports/<YYYY-MM>/<cluster>/{cluster,account-<account>}.{csv,pdf}.",
        MONTHLY,
        ("usage_daily", "gpu_usage_daily", "job_summary", "drops"),
        "reports",
    ),
)
REPORT_SPECS: dict[str, ReportSpec] = {spec.name: spec for spec in REPORTS}
