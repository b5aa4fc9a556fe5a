"""One UTC day's warehouse tables from the landing zone (DESIGN.md "Dagster", "Tables"; docs/PIPELINE.md).

Partition D reads every cluster's drops whose landing folder is D, parses each
with ``parse_sacct_text``, deduplicates jobs across drops (the version from the
latest ``(collected_at, drop_id)`` wins, so delivery order never matters), keeps
jobs whose ``end_date`` is D and writes one Parquet file per (table, cluster, D).
A job that ran for days appears in every day's drop but is kept only in its
end day's partition, so it is counted once. Output rows are sorted, so
re-materializing a day gives identical files.
"""

import datetime as dt
import hashlib
import itertools
import os
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from slurm_assets.sacct import associations, capacity, dedupe, parse, summary, units, usage
from slurm_assets.sacct.fields import TABLE_SCHEMAS, TS
from slurm_assets.storage import landing, paths, state, warehouse

# Tables written by the ``jobs`` step and by the ``usage_daily`` step, per (cluster, day).
DAY_TABLES = ("jobs", "quarantine", "drops", "capacity_daily", "associations", "job_summary")  # job_summary: with jobs
USAGE_TABLES = ("usage_daily", "gpu_usage_daily")
JOBS_SORT = [("job_id_raw", "ascending"), ("submit_time", "ascending")]
# A run's days are parsed (and apportioned) in batches this big: DuckDB's fixed cost per call is paid once
# per batch instead of once per day, and memory stays bounded (issue 7, bench/README.md).
BATCH_TEXT_BYTES = 64 * 2**20
BATCH_JOB_ROWS = 500_000
# Concurrent file writes (fsync waits overlap: 360 small files 2.3 s -> 0.25 s on the bench machine).
WRITE_THREADS = 4
# Days of drops read ahead while a batch is parsed.
PREFETCH_DAYS = 4


def share_machine(processes: int) -> None:
    """In one of ``processes`` run workers side by side (``python -m slurm_assets process --workers``): a
    1/processes share of the CPUs for DuckDB (two workers on 2 CPUs with 2 DuckDB threads each: ~20 % slower).
    Each worker keeps the whole batch budget: halving it cost ~12 % more CPU on the 1M-jobs year for
    ~230 MiB less memory (bench/README.md item 8).
    """
    units.THREADS = max(1, (os.cpu_count() or 1) // processes)


@dataclass(frozen=True)
class LoadedDrop:
    """A drop read from the landing zone: its manifest and text (None if unreadable, with the reason).

    ``manifest`` is ``{}`` when the manifest itself is unusable (reason ``bad_manifest``): such a
    drop is quarantined whole and is not in the ``drops`` catalogue.
    """

    cluster: str
    day: str
    drop_id: str
    manifest: dict
    text: bytes | None
    error: str = ""
    fingerprint: str = ""  # of the files as they were before reading (state.drop_fingerprint)


def parse_utc(value: str) -> dt.datetime:
    """``YYYY-MM-DDTHH:MM:SSZ`` -> aware UTC datetime; ValueError names the bad value."""
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (TypeError, ValueError) as err:
        raise ValueError(f"timestamp {value!r} is not YYYY-MM-DDTHH:MM:SSZ") from err


def read_manifest(ref: landing.DropRef) -> tuple[dict, str]:
    """``(manifest, "")`` if the drop's manifest is what docs/DROP_FORMAT.md says, else ``({}, "bad_manifest: why")``.

    Drops reach the landing zone without the receiver's checks (``agent --output-dir``, SSH, older
    receivers), so the pipeline applies the same ones (``landing.validate_manifest``, ranges from
    ``sacct/limits.py``); the manifest must also name the cluster and day of its folder.
    """
    manifest, error = landing.read_stored_manifest(ref.manifest_path, ref.cluster, ref.day)
    if error:
        return {}, f"bad_manifest: {error}; fix the sender and send the drop again (the new copy replaces this one)"
    return manifest, ""


def load_drop(ref: landing.DropRef) -> LoadedDrop:
    """Read a drop's manifest and text; a bad manifest, corrupt file or sha256 mismatch becomes ``error``.

    The fingerprint is taken first: if a corrected copy replaces the files while they are read, the
    recorded fingerprint is the old one and the copy is processed next time (``state.changed_quarantined``).
    """
    fingerprint = state.drop_fingerprint(ref.data_path, ref.manifest_path)
    manifest, error = read_manifest(ref)
    if error:
        return LoadedDrop(ref.cluster, ref.day, ref.drop_id, {}, None, error, fingerprint)
    try:
        text = landing.read_drop_text(ref)
    except (OSError, EOFError, zlib.error) as err:
        return LoadedDrop(ref.cluster, ref.day, ref.drop_id, manifest, None, f"unreadable_drop: {err}", fingerprint)
    digest = hashlib.sha256(text).hexdigest()
    if digest != manifest.get("sha256"):
        return LoadedDrop(
            ref.cluster, ref.day, ref.drop_id, manifest, None,
            f"sha256_mismatch: text has {digest}, manifest says {manifest.get('sha256')}; re-collect the drop",
            fingerprint,
        )
    return LoadedDrop(ref.cluster, ref.day, ref.drop_id, manifest, text, "", fingerprint)


def load_day(data_dir: Path, day: str) -> dict[str, list[LoadedDrop]]:
    """``{cluster: [drops]}`` for every cluster with drops in ``landing/<cluster>/<day>/``."""
    found: dict[str, list[LoadedDrop]] = {}
    for ref in landing.list_drops(data_dir, day=day):
        found.setdefault(ref.cluster, []).append(load_drop(ref))
    return found


def _rank(drop: LoadedDrop) -> tuple[str, str]:
    return (str(drop.manifest.get("collected_at", "")), drop.drop_id)


def _empty(table: str) -> pa.Table:
    return TABLE_SCHEMAS[table].empty_table()


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
        if d.text is None
    ]
    return pa.Table.from_pylist(rows, schema=TABLE_SCHEMAS["quarantine"])


def build_cluster_day(cluster: str, day: str, drops: list[LoadedDrop]) -> dict[str, pa.Table]:
    """The DAY_TABLES rows of one cluster-day from its drops (pure: no I/O).

    An unreadable drop is one quarantine row (reason ``unreadable_drop`` or
    ``sha256_mismatch``); its jobs come from the cluster's other drops, if any.
    """
    return build_cluster_days([(cluster, day, drops)])[0]


def build_cluster_days(items: list[tuple[str, str, list[LoadedDrop]]]) -> list[dict[str, pa.Table]]:
    """``build_cluster_day`` of each ``(cluster, day, drops)``, with one parse and one dedupe pass for all.

    DuckDB's per-call cost (~0.1-0.5 s) dwarfs a day's few hundred jobs, so a run
    parses its days together; results are identical to one call per cluster-day.
    """
    readable = [sorted((d for d in drops if d.text is not None), key=_rank) for _, _, drops in items]
    flat = parse.parse_sacct_texts(
        [(d.text, cluster, d.drop_id, day) for (cluster, day, _), rs in zip(items, readable) for d in rs]
    )
    parsed, i = [], 0
    for rs in readable:
        parsed.append(flat[i : i + len(rs)])
        i += len(rs)
    deduped = dedupe.dedupe_job_groups(
        [([p.jobs for p in ps], [_rank(d) for d in rs]) for ps, rs in zip(parsed, readable)]
    )
    built = [
        _cluster_day_tables(cluster, day, drops, rs, ps, jobs)
        for (cluster, day, drops), rs, ps, jobs in zip(items, readable, parsed, deduped, strict=True)
    ]
    for tables, rows in zip(built, summary.job_summary_groups([t["jobs"] for t in built]), strict=True):
        tables["job_summary"] = rows  # the dashboard's exact per-day aggregates of these jobs (sacct/summary.py)
    return built


def _cluster_day_tables(cluster: str, day: str, drops: list[LoadedDrop], readable: list[LoadedDrop],
                        parsed: list, jobs: pa.Table) -> dict[str, pa.Table]:
    if parsed:
        jobs = jobs.filter(pc.equal(jobs["end_date"], pa.scalar(dt.date.fromisoformat(day), pa.date32())))
        jobs = jobs.select(TABLE_SCHEMAS["jobs"].names).cast(TABLE_SCHEMAS["jobs"]).sort_by(JOBS_SORT)
    else:
        jobs = _empty("jobs")
    quarantine = pa.concat_tables(
        [_unreadable_rows(drops)] + [p.quarantine.select(TABLE_SCHEMAS["quarantine"].names).cast(
            TABLE_SCHEMAS["quarantine"]) for p in parsed]
    ).sort_by([("drop_id", "ascending"), ("line_no", "ascending")])
    with_inventory = [d for d in readable if d.manifest.get("inventory")]
    cap = (
        capacity.capacity_from_inventory(with_inventory[-1].manifest["inventory"], cluster, day)
        if with_inventory
        else _empty("capacity_daily")
    )
    with_assoc = [d for d in readable if d.manifest.get("associations")]
    assoc = (associations.associations_from_section(with_assoc[-1].manifest["associations"], cluster, day)
             if with_assoc else _empty("associations"))
    return {"jobs": jobs, "quarantine": quarantine, "drops": drops_table(drops), "capacity_daily": cap,
            "associations": assoc}


def clusters_with_files(data_dir: Path, table: str, day: str) -> set[str]:
    """Clusters that have a ``table`` file for ``day``."""
    folder = paths.table_dir(data_dir, table)
    return {p.parent.parent.name[len("cluster="):] for p in folder.glob(f"cluster=*/date={day}/part-0.parquet")}


def write_tables(data_dir: Path, day: str, tables: dict[str, dict[str, pa.Table]], names: tuple[str, ...]) -> None:
    """Write ``tables[cluster][name]`` for each cluster; remove ``day`` files of clusters no longer present."""
    write_days(data_dir, [(day, tables)], names)


def write_days(data_dir: Path, days: list[tuple[str, dict[str, dict[str, pa.Table]]]], names: tuple[str, ...]) -> None:
    """``write_tables`` of several days, the files written by WRITE_THREADS threads.

    Each file is still written atomically and fsynced (file and folder): waiting for
    the disk is most of a small file's cost, and the waits overlap across threads.
    """
    jobs = [(name, cluster, day, per_table[name]) for day, tables in days for name in names
            for cluster, per_table in tables.items()]
    with ThreadPoolExecutor(WRITE_THREADS) as pool:
        for done in [pool.submit(warehouse.write_partition, data_dir, *job) for job in jobs]:
            done.result()  # re-raise the first failure (the other writes finished or failed atomically)
    for day, tables in days:
        for name in names:
            for stale in clusters_with_files(data_dir, name, day) - set(tables):
                warehouse.remove_partition(data_dir, name, stale, day)


def process_day(data_dir: Path, day: str) -> dict[str, dict[str, pa.Table]]:
    """Build and write the DAY_TABLES of ``day`` for every cluster; return ``{cluster: {table: rows}}``."""
    return dict(process_days(data_dir, [day]))[day]


def process_days(data_dir: Path, days: Iterable[str]) -> Iterator[tuple[str, dict[str, dict[str, pa.Table]]]]:
    """``process_day`` of each day, in order, parsing batches of days together; yields ``(day, built)``.

    A batch closes once its drops hold BATCH_TEXT_BYTES of text, so memory stays
    bounded whatever the range; each day's files are written when its batch is done.
    """
    pending: list[tuple[str, dict[str, list[LoadedDrop]]]] = []
    size = 0
    for day, loaded in _prefetched(data_dir, days):
        day_size = _text_bytes(loaded)
        if pending and size + day_size > BATCH_TEXT_BYTES:  # big days (10M jobs a year: ~40 MiB) go one by one
            yield from _process_batch(data_dir, pending)
            pending, size = [], 0
        pending.append((day, loaded))
        size += day_size
    if pending:
        yield from _process_batch(data_dir, pending)


def _text_bytes(loaded: dict[str, list[LoadedDrop]]) -> int:
    return sum(len(d.text or b"") for drops in loaded.values() for d in drops)


def _prefetched(data_dir: Path, days: Iterable[str], ahead: int = PREFETCH_DAYS):
    """``(day, load_day(day))`` in order, read by a background thread up to ``ahead`` days in advance.

    Gunzip and sha256 release the GIL, so reading the next days overlaps parsing the
    current batch. The extra memory is bounded: at most ``ahead`` days, and no more days
    than a batch's text budget holds at the size of the last day read (big days: one).
    """
    todo = iter(days)
    with ThreadPoolExecutor(1) as pool:
        queue = deque((day, pool.submit(load_day, data_dir, day)) for day in itertools.islice(todo, 1))
        while queue:
            day, loading = queue.popleft()
            loaded = loading.result()
            room = max(1, min(ahead, BATCH_TEXT_BYTES // max(_text_bytes(loaded), 1)))
            while len(queue) < room and (upcoming := next(todo, None)) is not None:
                queue.append((upcoming, pool.submit(load_day, data_dir, upcoming)))
            yield day, loaded


def _process_batch(data_dir: Path, pending: list[tuple[str, dict[str, list[LoadedDrop]]]]):
    items = [(cluster, day, drops) for day, loaded in pending for cluster, drops in loaded.items()]
    built = iter(build_cluster_days(items))
    days = [(day, {cluster: next(built) for cluster in loaded}) for day, loaded in pending]
    write_days(data_dir, days, DAY_TABLES)
    state.record_quarantined(data_dir, [day for day, _ in pending], {
        f"{d.cluster}/{d.day}/{d.drop_id}": d.fingerprint
        for _, loaded in pending for drops in loaded.values() for d in drops if d.text is None})
    yield from days


def read_table_day(data_dir: Path, table: str, cluster: str, day: str, columns: list[str] | None = None) -> pa.Table:
    """One (table, cluster, day) Parquet file (only ``columns`` if given), or an empty table with the schema."""
    path = paths.partition_file(data_dir, table, cluster, day)
    rows = pq.read_table(path, schema=TABLE_SCHEMAS[table], columns=columns) if path.exists() else _empty(table)
    return rows.select(columns) if columns else rows


def process_usage_day(data_dir: Path, day: str) -> dict[str, dict[str, pa.Table]]:
    """Apportion the ``jobs`` of partition ``day`` (jobs that ENDED on ``day``) to the days they ran.

    Files sit under the end day's folder; the ``date`` column is the usage day, so
    summing ``usage_daily`` by ``date`` over all files gives usage per day.
    """
    return dict(process_usage_days(data_dir, [day]))[day]


def process_usage_days(data_dir: Path, days: Iterable[str]) -> Iterator[tuple[str, dict[str, dict[str, pa.Table]]]]:
    """``process_usage_day`` of each day, in order, apportioning batches of days together; yields ``(day, built)``."""
    pending: list[tuple[str, dict[str, pa.Table]]] = []
    rows = 0
    for day in days:
        jobs = {c: read_table_day(data_dir, "jobs", c, day) for c in sorted(clusters_with_files(data_dir, "jobs", day))}
        pending.append((day, jobs))
        rows += sum(t.num_rows for t in jobs.values())
        if rows >= BATCH_JOB_ROWS:
            yield from _usage_batch(data_dir, pending)
            pending, rows = [], 0
    if pending:
        yield from _usage_batch(data_dir, pending)


def _usage_batch(data_dir: Path, pending: list[tuple[str, dict[str, pa.Table]]]):
    results = iter(usage.apportion_usage_groups([t for _, jobs in pending for t in jobs.values()]))
    days = []
    for day, jobs in pending:
        built = {}
        for cluster in jobs:
            usage_rows, gpu_rows = next(results)
            built[cluster] = {
                "usage_daily": usage_rows.sort_by(
                    [(c, "ascending") for c in ("date", "user", "account", "partition", "qos")]),
                "gpu_usage_daily": gpu_rows.sort_by(
                    [(c, "ascending") for c in ("date", "user", "account", "partition", "qos", "gpu_type")]
                ),
            }
        days.append((day, built))
    write_days(data_dir, days, USAGE_TABLES)
    yield from days


def latest_snapshot_drop(refs: list[landing.DropRef]) -> landing.DropRef | None:
    """The drop holding a cluster's latest view of running jobs: most recent day, then collected_at, then id.

    Drops with an unusable manifest are skipped (an earlier day's drop is taken); None if there is none.
    """
    for day in sorted({r.day for r in refs}, reverse=True):  # the last day's manifests, not years of them
        usable = [(manifest["collected_at"], r.drop_id, r) for r in refs if r.day == day
                  for manifest in [read_manifest(r)[0]] if manifest]
        if usable:
            return max(usable, key=lambda u: u[:2])[2]
    return None


def build_running_jobs(data_dir: Path) -> dict[str, tuple[str, pa.Table]]:
    """``{cluster: (day, running_jobs rows)}``: unfinished jobs of each cluster's latest snapshot drop.

    ``snapshot_time`` is the drop's ``collected_at``. Finished jobs are never here,
    so a job is not counted twice once it finishes.
    """
    by_cluster: dict[str, list[landing.DropRef]] = {}
    for ref in landing.list_drops(data_dir):
        by_cluster.setdefault(ref.cluster, []).append(ref)
    result = {}
    for cluster, refs in sorted(by_cluster.items()):
        latest = latest_snapshot_drop(refs)
        if latest is None:
            continue  # no drop of this cluster has a usable manifest: its last snapshot file stays
        drop = load_drop(latest)
        if drop.text is None:
            rows = _empty("running_jobs")
        else:
            parsed = parse.parse_sacct_text(drop.text, cluster=cluster, drop_id=drop.drop_id, day=drop.day)
            snap = parse_utc(drop.manifest["collected_at"])
            unfinished = parsed.unfinished.select(TABLE_SCHEMAS["jobs"].names).cast(TABLE_SCHEMAS["jobs"])
            rows = unfinished.append_column(
                pa.field("snapshot_time", TS), pa.array([snap] * unfinished.num_rows, TS)
            ).sort_by(JOBS_SORT)
        result[cluster] = (drop.day, rows)
    return result


def write_running_jobs(data_dir: Path, snapshots: dict[str, tuple[str, pa.Table]]) -> None:
    """Replace each cluster's one running_jobs file with its latest snapshot (same path, so readers never race)."""
    for cluster, (_day, rows) in snapshots.items():
        warehouse.write_snapshot(data_dir, "running_jobs", cluster, rows)


def read_days(data_dir: Path, table: str, days: list[str], columns: list[str]) -> pa.Table:
    """``columns`` of all clusters' ``table`` rows of the given partition days (checks read only what they test)."""
    parts = [
        read_table_day(data_dir, table, cluster, day, columns)
        for day in days
        for cluster in sorted(clusters_with_files(data_dir, table, day))
    ]
    return pa.concat_tables(parts) if parts else _empty(table).select(columns)


def missing_drops(data_dir: Path, days: list[str]) -> dict[str, list[str]]:
    """``{cluster: [days]}``: days of ``days`` on which a cluster known to the landing zone has no drop.

    A cluster is known from its first landing day on, so a new cluster is not "missing" its history.
    """
    have: dict[str, set[str]] = {}
    for ref in landing.list_drops(data_dir):
        have.setdefault(ref.cluster, set()).add(ref.day)
    return {
        cluster: gaps
        for cluster, seen in sorted(have.items())
        if (gaps := [d for d in days if d >= min(seen) and d not in seen])
    }
