"""Read one import input into per-day sacct texts: a ``sacct --parsable2`` log (plain or gzip, with a
header or headerless with ``--fields``) or the seed system's stored Parquet (``jobs_<year>.parquet``)."""

import datetime as dt
import gzip
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from slurm_assets.receiver import seed_json
from slurm_assets.sacct import days

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
# The seed backend renames these on ingest (backend/app/api/data.py); the drop keeps sacct's names.
SEED_RENAMES = {"CPUs": "AllocCPUS", "GPUs": "AllocGPUS", "Nodes": "AllocNodes"}
SEED_FIELDS = (
    "JobID",
    "User",
    "Account",
    "Partition",
    "State",
    "QOS",
    "Submit",
    "Start",
    "End",
    "CPUHours",
    "GPUHours",
    "AllocCPUS",
    "AllocGPUS",
    "AllocNodes",
    "NodeList",
)
SEED_INT_FIELDS = ("AllocCPUS", "AllocGPUS", "AllocNodes")


class InputError(ValueError):
    """An input file cannot be read or split; the message names the file and what to do."""


def kind_of(path: Path) -> str:
    """``parquet`` or ``sacct`` (plain or gzip text), from the file's first bytes."""
    with open(path, "rb") as fh:
        return "parquet" if fh.read(4) == PARQUET_MAGIC else "sacct"


def read_text(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic."""
    data = path.read_bytes()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise InputError(f"{path}: not a readable gzip file ({err}); gunzip -t it or re-copy it") from err
    if b"\x00" in data[:4096]:
        raise InputError(f"{path}: binary data, not sacct --parsable2 text (nor gzip of it, nor Parquet)")
    return data


def sacct_days(path: Path, fields: list[str] | None) -> tuple[list[days.DayText], int]:
    """A sacct log split by UTC day, and its superseded lines; ``fields`` names the columns of a headerless log."""
    text = read_text(path)
    if fields:
        text = days.header_line(fields) + text
    try:
        return days.split_by_day(text)
    except days.SplitError as err:
        raise InputError(f"{path}: {err}") from err


def seed_parquet_days(path: Path) -> tuple[list[days.DayText], int]:
    """The seed system's stored jobs (its Parquet per cluster and year) as sacct text per UTC day.

    Its columns are its agent's JSON fields (CPUs/GPUs/Nodes renamed back); the rows go through the
    receiver's seed JSON conversion, so both give the same drops for the same jobs.
    """
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise InputError(f"{path}: not a readable Parquet file ({err})") from err
    table = table.rename_columns([SEED_RENAMES.get(c, c) for c in table.column_names])
    missing = [f for f in ("JobID", "State", "Submit") if f not in table.column_names]
    if missing:
        raise InputError(
            f"{path}: no {', '.join(missing)} column: not the seed system's jobs_<year>.parquet "
            f"(columns: {', '.join(table.column_names[:20])})"
        )
    cols = {}
    for name in (f for f in SEED_FIELDS if f in table.column_names):
        col = table[name]
        if pa.types.is_timestamp(col.type):  # whole seconds, as sacct prints them (%S of ns has fractions)
            col = pc.strftime(pc.cast(col, pa.timestamp("s", tz=col.type.tz), safe=False), "%Y-%m-%dT%H:%M:%S")
        elif name in SEED_INT_FIELDS and pa.types.is_floating(col.type):  # pandas NaN made them float
            col = pc.cast(pc.round(col), pa.int64())
        cols[name] = col
    jobs = pa.table(cols).to_pylist()
    try:
        body = seed_json.parse_seed_body({"hostname": "import", "jobs": jobs})
    except seed_json.SeedJsonError as err:
        raise InputError(f"{path}: {err}") from err
    return [days.DayText(d.day, d.text, d.rows) for d in body.days], 0


def file_time(path: Path) -> str:
    """The file's modification time, UTC: an imported drop's ``collected_at`` (old data ranks as old)."""
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
