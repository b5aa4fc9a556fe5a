"""``python -m slurm_assets import --data-dir D --cluster C [--fields F1,F2,...] FILE...`` (docs/MIGRATING.md).

Each FILE (a ``sacct --parsable2`` log, plain or gzip, with its header or headerless with ``--fields``;
or the seed system's ``jobs_<year>.parquet``) becomes one drop per UTC day in ``landing/C/`` (source
``import``, or ``seed`` for the seed Parquet). The same file imported again stores nothing new. A file
with days before ``SLURM_USAGE_FIRST_DAY`` is refused whole, naming the setting. Each day's text is
parsed once here too, so the summary counts the lines ``process`` will quarantine.
Exit codes: 0 every file imported, 2 a file was refused or unreadable (the others are imported).
"""

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from slurm_assets import settings
from slurm_assets.importer import sources
from slurm_assets.sacct import days, parse
from slurm_assets.storage import fs, landing, paths, text_drops

EXIT_OK, EXIT_REFUSED = 0, 2
AGENT_VERSION = "python -m slurm_assets import"
PARSE_BATCH_BYTES = 64 * 2**20  # day texts parsed together for the quarantine count (as the pipeline batches)


@dataclass
class Summary:
    files: int = 0
    failed: list[str] = field(default_factory=list)
    days: set = field(default_factory=set)
    rows: int = 0
    superseded: int = 0
    new: int = 0
    duplicate: int = 0
    quarantined: Counter = field(default_factory=Counter)


def add_arguments(parser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="sacct --parsable2 logs (plain or gzip) or the seed system's jobs_<year>.parquet",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="DATA_DIR, a folder or s3://bucket/prefix (default: $SLURM_USAGE_DATA_DIR or ./data)",
    )
    parser.add_argument("--cluster", required=True, help="the cluster the files belong to")
    parser.add_argument(
        "--fields",
        help="comma list of the field names of headerless logs (sacct --noheader), "
        "in the file's order, any case: e.g. the --format the logs were written with",
    )


def run(args) -> int:
    """Import every file; print progress per file and a summary; return the exit code."""
    try:
        cluster = paths.check_cluster_name(args.cluster)
        data_dir = fs.resolve(args.data_dir) if args.data_dir else settings.data_dir()
        settings.first_day()
        fs.check_root(data_dir)
    except (paths.InvalidNameError, ValueError, fs.StorageError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    fields = [f for f in args.fields.split(",")] if args.fields else None
    summary = Summary()
    for path in args.files:
        summary.files += 1
        try:
            import_file(data_dir, cluster, path, fields, summary)
        except (sources.InputError, settings.FirstDayError, landing.DropFormatError, OSError) as err:
            message = str(err) if str(path) in str(err) else f"{path}: {err}"
            print(f"error: {message}", file=sys.stderr, flush=True)
            summary.failed.append(str(path))
    print_summary(data_dir, summary)
    return EXIT_REFUSED if summary.failed else EXIT_OK


def import_file(data_dir: Path, cluster: str, path: Path, fields: list[str] | None, summary: Summary) -> None:
    """Split one file by day, refuse it whole if a day is before the first day, store its drops."""
    began = time.monotonic()
    kind = sources.kind_of(path)
    per_day, superseded = sources.seed_parquet_days(path) if kind == "parquet" else sources.sacct_days(path, fields)
    settings.check_not_before_first_day([d.day for d in per_day], str(path))
    lines = sum(d.lines for d in per_day)
    print(
        f"{path}: {kind}, {lines} lines on {len(per_day)} days ({per_day[0].day}..{per_day[-1].day}); "
        f"{superseded} superseded lines left out (older RUNNING/PENDING rows of jobs shown again later)",
        flush=True,
    )
    summary.superseded += superseded
    source = "seed" if kind == "parquet" else "import"
    collected_at = sources.file_time(path)
    sacct_version = "unknown (seed system's Parquet)" if kind == "parquet" else "unknown (imported file)"
    new = 0
    for i, day in enumerate(per_day, 1):
        _drop_id, duplicate, rows = text_drops.store_text_drop(
            data_dir,
            cluster,
            day.day,
            day.text,
            source=source,
            agent_version=AGENT_VERSION,
            sacct_version=sacct_version,
            collected_at=collected_at,
        )
        new += not duplicate
        summary.rows += rows
        if i % 30 == 0 and i < len(per_day):
            print(f"  {i}/{len(per_day)} days stored ({day.day})", flush=True)
    summary.new += new
    summary.duplicate += len(per_day) - new
    summary.days.update(d.day for d in per_day)
    summary.quarantined.update(quarantine_reasons(cluster, per_day))
    print(
        f"  {len(per_day)} drops ({new} new, {len(per_day) - new} already there) in {time.monotonic() - began:.1f} s",
        flush=True,
    )


def quarantine_reasons(cluster: str, per_day: list[days.DayText]) -> Counter:
    """Quarantine reasons of the days' lines, as ``process`` will find them (parsed in batches)."""
    reasons: Counter = Counter()
    batch, size = [], 0
    for day in [*per_day, None]:
        if day is not None:
            batch.append((day.text, cluster, "import", day.day))
            size += len(day.text)
        if batch and (day is None or size >= PARSE_BATCH_BYTES):
            for parsed in parse.parse_sacct_texts(batch):
                reasons.update(parsed.quarantine["reason"].to_pylist())
            batch, size = [], 0
    return reasons


def print_summary(data_dir: Path, summary: Summary) -> None:
    quarantined = sum(summary.quarantined.values())
    reasons = ", ".join(f"{r} {n}" for r, n in summary.quarantined.most_common(5))
    span = f" ({min(summary.days)}..{max(summary.days)})" if summary.days else ""
    print(
        f"import: {summary.files} file(s), {len(summary.failed)} refused; {len(summary.days)} days{span}, "
        f"{summary.rows} rows ({summary.superseded} superseded left out); {summary.new} new drops, {summary.duplicate} already there; "
        f"{quarantined} lines will be quarantined{f' ({reasons})' if reasons else ''}",
        flush=True,
    )
    if summary.new:
        print(f"next: python -m slurm_assets process --data-dir {data_dir}", flush=True)
