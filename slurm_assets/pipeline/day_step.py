"""The day step: one UTC day's tables from the landing zone (DESIGN.md "Dagster", "Tables"; docs/PIPELINE.md).

Partition D reads every cluster's drops whose landing folder is D, parses each
with ``parse_sacct_text``, deduplicates jobs across drops (the version from the
latest ``(collected_at, drop_id)`` wins, so delivery order never matters), keeps
jobs whose ``end_date`` is D and writes one Parquet file per (table, cluster, D)
for the tables of the catalogue's DAY_STEP. A job that ran for days appears in
every day's drop but is kept only in its end day's partition, so it is counted
once. Output rows are sorted, so re-materializing a day gives identical files.
"""

import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from slurm_assets.pipeline import bigdrops, load
from slurm_assets.pipeline.load import LoadedDrop, drop_rank, parse_utc
from slurm_assets.pipeline.write import write_days
from slurm_assets.sacct import associations, dedupe, slurmdbd_capacity, summary
from slurm_assets.sacct.catalog import DAY_STEP, SPECS, TABLE_SCHEMAS, tables_of
from slurm_assets.storage import landing, state


def _sort(table: str) -> list[tuple[str, str]]:
    return [(c, "ascending") for c in SPECS[table].sort_key]


def drops_table(drops: list[LoadedDrop]) -> pa.Table:
    """The ``drops`` catalogue rows for a cluster-day (one per drop, sorted by drop id)."""
    rows = [
        {
            "cluster": d.cluster,
            "date": dt.date.fromisoformat(d.day),
            "drop_id": d.drop_id,
            "sha256": d.manifest["sha256"],
            "source": d.manifest["source"],
            "window_start": parse_utc(d.manifest["window_start"]),
            "window_end": parse_utc(d.manifest["window_end"]),
            "collected_at": parse_utc(d.manifest["collected_at"]),
            "rows": d.manifest["rows"],
            "sacct_version": d.manifest["sacct_version"],
            "agent_version": d.manifest["agent_version"],
        }
        for d in sorted(drops, key=lambda d: d.drop_id)
        if d.manifest  # a drop whose manifest is unusable is only in quarantine
    ]
    return pa.Table.from_pylist(rows, schema=TABLE_SCHEMAS["drops"])


def _unreadable_rows(drops: list[LoadedDrop]) -> pa.Table:
    rows = [
        {
            "cluster": d.cluster,
            "date": dt.date.fromisoformat(d.day),
            "drop_id": d.drop_id,
            "line_no": 0,
            "reason": d.error.split(":", 1)[0],
            "detail": f"landing/{d.cluster}/{d.day}/{d.drop_id}: {d.error}",
            "raw_line": "",
        }
        for d in drops
        if not d.usable
    ]
    return pa.Table.from_pylist(rows, schema=TABLE_SCHEMAS["quarantine"])


def build_cluster_days(
    items: list[tuple[str, str, list[LoadedDrop]]], threads: int | None = None
) -> list[dict[str, pa.Table]]:
    """The day step's tables of each ``(cluster, day, drops)`` (pure: no I/O), one parse and dedupe pass for all.

    An unreadable drop is one quarantine row (reason ``unreadable_drop`` or
    ``sha256_mismatch``); its jobs come from the cluster's other drops, if any.
    DuckDB's per-call cost (~0.1-0.5 s) dwarfs a day's few hundred jobs, so a run
    parses its days together; results are identical to one call per cluster-day. ``threads``: DuckDB's.
    """
    readable = [sorted((d for d in drops if d.usable), key=drop_rank) for _, _, drops in items]
    flat = bigdrops.parse_all(
        [(d, cluster, day) for (cluster, day, _), rs in zip(items, readable) for d in rs], threads
    )
    parsed, i = [], 0
    for rs in readable:
        parsed.append(flat[i : i + len(rs)])
        i += len(rs)
    deduped = dedupe.dedupe_job_groups(
        [([p.jobs for p in ps], [drop_rank(d) for d in rs]) for ps, rs in zip(parsed, readable)],
        threads,
        # seed JSON / seed Parquet rows yield to sacct text of the same job (sacct/dedupe.py)
        [[d.manifest.get("source") in landing.SEED_FORMAT_SOURCES for d in rs] for rs in readable],
    )
    built = [
        _cluster_day_tables(cluster, day, drops, rs, ps, jobs, threads)
        for (cluster, day, drops), rs, ps, jobs in zip(items, readable, parsed, deduped, strict=True)
    ]
    for tables, rows in zip(built, summary.job_summary_groups([t["jobs"] for t in built]), strict=True):
        tables["job_summary"] = rows  # the dashboard's exact per-day aggregates of these jobs (sacct/summary.py)
    return built


def _cluster_day_tables(
    cluster: str,
    day: str,
    drops: list[LoadedDrop],
    readable: list[LoadedDrop],
    parsed: list,
    jobs: pa.Table,
    threads: int | None,
) -> dict[str, pa.Table]:
    if parsed:
        jobs = jobs.filter(pc.equal(jobs["end_date"], pa.scalar(dt.date.fromisoformat(day), pa.date32())))
        jobs = jobs.select(TABLE_SCHEMAS["jobs"].names).cast(TABLE_SCHEMAS["jobs"]).sort_by(_sort("jobs"))
    else:
        jobs = TABLE_SCHEMAS["jobs"].empty_table()
    cap, mismatch = slurmdbd_capacity.day_capacity(cluster, day, [(d.drop_id, d.manifest) for d in readable], threads)
    quarantine = pa.concat_tables(
        [_unreadable_rows(drops), mismatch]
        + [p.quarantine.select(TABLE_SCHEMAS["quarantine"].names).cast(TABLE_SCHEMAS["quarantine"]) for p in parsed]
    ).sort_by(_sort("quarantine"))
    with_assoc = [d for d in readable if d.manifest.get("associations")]
    assoc = (
        associations.associations_from_section(with_assoc[-1].manifest["associations"], cluster, day)
        if with_assoc
        else TABLE_SCHEMAS["associations"].empty_table()
    )
    return {
        "jobs": jobs,
        "quarantine": quarantine,
        "drops": drops_table(drops),
        "capacity_daily": cap,
        "associations": assoc,
    }


def process_days(
    data_dir: Path, days: Iterable[str], threads: int | None = None
) -> Iterator[tuple[str, dict[str, dict[str, pa.Table]]]]:
    """Build and write the day step's tables of each day for every cluster, in order, parsing batches of days
    together; yields ``(day, {cluster: {table: rows}})``.

    A batch closes once its drops hold BATCH_TEXT_BYTES of text, so memory stays
    bounded whatever the range; each day's files are written when its batch is done.
    """
    pending: list[tuple[str, dict[str, list[LoadedDrop]]]] = []
    size = 0
    for day, loaded in load.prefetched(data_dir, days):
        day_size = load.text_bytes(loaded)
        if pending and size + day_size > load.BATCH_TEXT_BYTES:  # big days (10M jobs a year) one by one
            yield from _process_batch(data_dir, pending, threads)
            pending, size = [], 0
        pending.append((day, loaded))
        size += day_size
    if pending:
        yield from _process_batch(data_dir, pending, threads)


def _process_batch(data_dir: Path, pending: list[tuple[str, dict[str, list[LoadedDrop]]]], threads: int | None):
    items = [(cluster, day, drops) for day, loaded in pending for cluster, drops in loaded.items()]
    built = iter(build_cluster_days(items, threads))
    days = [(day, {cluster: next(built) for cluster in loaded}) for day, loaded in pending]
    write_days(data_dir, days, tables_of(DAY_STEP))
    state.mark_built(
        data_dir,
        landing.day_digests(
            (cluster, day, d.drop_id) for day, loaded in pending for cluster, drops in loaded.items() for d in drops
        ),
    )
    state.record_quarantined(
        data_dir,
        [day for day, _ in pending],
        {
            f"{d.cluster}/{d.day}/{d.drop_id}": d.fingerprint
            for _, loaded in pending
            for drops in loaded.values()
            for d in drops
            if not d.usable
        },
    )
    yield from days
