"""Monthly compacts of the small daily tables: one Parquet file per (table, cluster, month) for cold readers.

One file per (table, cluster, day) is the layout (DESIGN.md "Storage") and stays the source of truth,
but a dashboard starting without its local copy pays ~0.5 ms per file it opens: ~20k files at 10M jobs
(bench/README.md "Figures behind the code"). A compact holds the rows of one month's daily files of a
table and cluster, unchanged and in file order, each tagged with its daily file (``_src``, relative to
``warehouse/``), and records every source file's ``(mtime_ns, size)`` in its footer (SOURCES_KEY); its
name carries the digest of those sources (``part-<digest>.parquet``).

A reader uses a compact only where the daily files of that cluster and month are still exactly the
compacted ones (same set, same stats): it computes the digest of the files it lists and opens the compact
of that name if there is one (no footer read to decide); anywhere else it reads the daily files. So a compact can be
stale (a late drop rewrote a day), never wrong, and the next ``monthly_compacts`` run rewrites it.
Only complete months (before the current UTC month) are compacted: the current month still changes daily.
"""

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from slurm_assets.sacct import catalog
from slurm_assets.sacct.catalog import TABLE_SCHEMAS
from slurm_assets.storage import fs, paths
from slurm_assets.storage.atomic import atomic_writer

log = logging.getLogger(__name__)

SOURCES_KEY = b"slurm_usage.sources"  # footer key: JSON {relative daily file: [mtime_ns, size]}
SRC = "_src"  # the column naming each row's daily file, relative to warehouse/

Stats = dict[str, tuple[int, int]]


def relative(data_dir: Path, path: Path | str) -> str:
    """A warehouse file's name relative to ``warehouse/`` (how compacts name their sources)."""
    path, root = fs.root(path), paths.warehouse_root(data_dir)
    if fs.is_remote(root):
        return str(path.relative_to(root))
    return Path(path).relative_to(root).as_posix()


def stats_of(data_dir: Path, files: list[Path]) -> Stats:
    """``{relative name: (mtime_ns, size)}`` of the files that exist."""
    out: Stats = {}
    if files and fs.is_remote(fs.root(files[0])):  # one listing, not a request per file
        found = fs.stat_all([fs.root(p) for p in files])
        return {relative(data_dir, p): (info.st_mtime_ns, info.st_size) for p, info in found.items()}
    for p in files:
        try:
            info = fs.root(p).stat()
        except FileNotFoundError:  # replaced or removed while we listed
            continue
        out[relative(data_dir, p)] = (info.st_mtime_ns, info.st_size)
    return out


def month_groups(files) -> dict[tuple[str, str], list]:
    """Daily files grouped by (cluster, month ``YYYY-MM``) of their folder names."""
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for f in files:
        cluster, day = paths.cluster_day_of(fs.root(f))
        groups[(cluster, day[:7])].append(f)
    return groups


def digest(sources: Stats) -> str:
    """The name part of the compact of exactly these sources (names and stats)."""
    text = json.dumps({name: list(stat) for name, stat in sources.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def recorded_sources(target: Path) -> Stats | None:
    """The sources a compact was made of; None if there is no readable compact."""
    try:
        with fs.open_binary(target) as fh:
            meta = pq.read_metadata(fh).metadata or {}
        return {name: tuple(stat) for name, stat in json.loads(meta[SOURCES_KEY]).items()}
    except FileNotFoundError:
        return None
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException) as err:
        log.warning("compact %s unreadable (%s): ignored, rewritten by the next monthly_compacts run", target, err)
        return None


def write_compact(data_dir: Path, table: str, target: Path, files: list[Path], want: Stats) -> bool:
    """Write the compact of ``files`` (whose stats are ``want``); False if one changed while being read."""
    schema = TABLE_SCHEMAS[table]
    parts = []
    for p in sorted(files):
        with fs.open_binary(fs.root(p)) as fh:
            rows = pq.ParquetFile(fh).read().select(schema.names).cast(schema)
        parts.append(rows.append_column(SRC, pa.array([relative(data_dir, p)] * rows.num_rows, pa.string())))
    if stats_of(data_dir, files) != want:
        return False  # a writer replaced a day meanwhile: the next run compacts the new files
    rows = pa.concat_tables(parts) if parts else schema.empty_table().append_column(SRC, pa.array([], pa.string()))
    rows = rows.replace_schema_metadata({SOURCES_KEY: json.dumps(want, sort_keys=True).encode()})
    with atomic_writer(target) as fh:
        pq.write_table(rows, fh, compression="zstd")
    return True


def compact_table(data_dir: Path, table: str, before_month: str) -> dict[str, int]:
    """Bring ``table``'s compacts of the months before ``before_month`` up to date; remove superseded ones."""
    groups = month_groups(paths.partition_files(data_dir, table))
    counts = {"written": 0, "current": 0, "skipped": 0, "removed": 0}
    keep = set()
    for (cluster, month), files in sorted(groups.items()):
        if month >= before_month:
            continue
        want = stats_of(data_dir, files)
        target = paths.monthly_file(data_dir, table, cluster, month, digest(want))
        if target.exists() and recorded_sources(target) == want:
            counts["current"] += 1
        elif want and write_compact(data_dir, table, target, files, want):
            counts["written"] += 1
        else:
            counts["skipped"] += 1
            continue
        keep.add(target)
    for old in paths.monthly_files(data_dir, table):  # superseded, or of months whose daily files are gone
        if old not in keep:
            old.unlink(missing_ok=True)
            counts["removed"] += 1
    return counts


def compact_all(data_dir: Path, today: dt.date | None = None) -> dict[str, dict[str, int]]:
    """Every compacted table of the catalogue, complete months only (before ``today``'s UTC month)."""
    today = today or dt.datetime.now(dt.UTC).date()
    return {table: compact_table(data_dir, table, today.isoformat()[:7]) for table in catalog.compacted_tables()}


def usable(data_dir: Path, table: str, listing: dict[str, tuple[int, int]]) -> tuple[list[Path], list[str]]:
    """(compacts to read, listed files they do not cover) for ``listing`` ({daily file: (mtime_ns, size)}).

    A compact is used only if it was made of exactly the listed files of its cluster and month (its name's
    digest is theirs).
    """
    compacts, covered = [], set()
    for (cluster, month), files in sorted(month_groups(listing).items()):
        sources = {relative(data_dir, f): tuple(listing[f]) for f in files}
        target = paths.monthly_file(data_dir, table, cluster, month, digest(sources))
        if target.exists():
            compacts.append(target)
            covered.update(files)
    return compacts, sorted(f for f in listing if f not in covered)
