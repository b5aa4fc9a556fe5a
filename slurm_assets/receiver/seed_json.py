"""The seed-compatible JSON body -> ``sacct --parsable2`` text per UTC day (pure, no I/O).

Body: ``{"hostname": "<cluster>", "jobs": [{"<sacct field>": value, ...}, ...]}``.

* Header (per day): the union of that day's jobs' keys in order of first appearance (any field
  order parses), so a day's drop depends only on that day's jobs.
* Values: strings, integers and floats are written as text; ``null`` as an empty field.
  A ``|``, newline or carriage return in a key or value is refused (422): ``sacct -P``
  output cannot represent it, so writing it would shift columns or split a row.
* Day: the UTC day of ``End``, else ``Start``, else ``Submit`` (timestamps without an
  offset are UTC, as the agent runs sacct with ``TZ=UTC``; ``Unknown``/``None``/empty/``null``
  count as missing). A job without any of the three is refused (422).
* One drop per day, rows in body order, so an identical resent body gives identical
  text and therefore the same sha256 (the receiver answers ``duplicate``).
"""

import datetime as dt
import json
import re
from dataclasses import dataclass

from slurm_assets.storage import paths

DAY_FIELDS = ("End", "Start", "Submit")
TIME_FIELDS = (*DAY_FIELDS, "Eligible")  # written as sacct prints them under TZ=UTC: YYYY-MM-DDTHH:MM:SS
# A JSON job id without JobIDRaw: ``5`` (its own raw id), array task ``22_5``, het component ``59+1``, with an
# optional ``.step``. Tasks and components get the raw id ``job * 2**32 + index``: above any Slurm job id
# (at most 67,108,863), one per task, and replaced by the real one when sacct text of the job arrives
# (the pipeline prefers a text drop's row with the same cluster, JobID and Submit: sacct/dedupe.py).
JOB_ID_RE = re.compile(r"^(\d+)(?:([_+])(\d+))?(\.[^.]+)?$")
SYNTHETIC_RAW_BASE = 2**32
# Seed agent fields (its DataIngestionRequest) whose sacct counterpart the parser reads.
SEED_GPU_FIELDS = ("AllocGPUS", "GPUHours")
# How sacct prints a missing time; anything else in End/Start/Submit must be a timestamp.
MISSING_TIMES = frozenset({"", "Unknown", "None"})
# sacct's ISO time (years 1970-2999), optionally with fractions and a UTC offset; the OpenAPI
# schema uses the same pattern, so what it calls valid is what the receiver accepts.
TIMESTAMP_PATTERN = (
    r"(?:19[7-9]\d|2\d{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?"
)
TIMESTAMP_RE = re.compile(f"^{TIMESTAMP_PATTERN}$")
FORBIDDEN_CHARS = ("|", "\n", "\r")


class SeedJsonError(ValueError):
    """The JSON body is malformed; the message names the job index and field."""


@dataclass(frozen=True)
class SeedDay:
    day: str
    fields: tuple[str, ...]
    text: bytes
    rows: int


@dataclass(frozen=True)
class SeedBody:
    cluster: str
    days: tuple[SeedDay, ...]


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _field_text(value: object, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SeedJsonError(
            f"{where}: value {repr(value)[:80]} has type {type(value).__name__}; expected string or number"
        )
    text = value if isinstance(value, str) else json.dumps(value)
    if not _encodable(text):
        raise SeedJsonError(f"{where}: value {text[:80]!r} is not valid Unicode (a lone surrogate escape)")
    if any(c in text for c in FORBIDDEN_CHARS):
        raise SeedJsonError(
            f"{where}: value {text[:80]!r} contains '|' or a line break, which sacct --parsable2 text "
            "cannot represent; remove it or use the agent's native drop format"
        )
    return text


def _utc_time(value: str, where: str) -> dt.datetime | None:
    """A JSON time -> naive UTC datetime (whole seconds); None for a missing one; SeedJsonError if unreadable."""
    if value in MISSING_TIMES:
        return None
    try:
        if not TIMESTAMP_RE.match(value):
            raise ValueError(value)
        stamp = dt.datetime.fromisoformat(value)  # Python 3.11 reads "Z", offsets and a space for T
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
    except ValueError as err:  # no match, or no such date (2024-02-30)
        raise SeedJsonError(
            f"{where}: {value[:80]!r} is not a timestamp (expected YYYY-MM-DDTHH:MM:SS[Z|+HH:MM], "
            "UTC without an offset, years 1970-2999; or Unknown/None/empty)"
        ) from err
    return stamp.replace(microsecond=0)


def _utc_day(value: str, where: str) -> str | None:
    stamp = _utc_time(value, where)
    return None if stamp is None else stamp.date().isoformat()


def _sacct_cells(cells: dict[str, str], index: int) -> dict[str, str]:
    """The seed agent's fields as sacct prints them: UTC times, JobIDRaw, and AllocTRES from AllocCPUS/AllocGPUS.

    The parser keys jobs by JobIDRaw and counts GPUs from AllocTRES, which the seed agent does not send;
    without them array tasks were quarantined and every job had 0 GPU-hours. CPUHours is not read: the
    parser computes AllocCPUS x (End - Start) as for sacct text. GPUs: AllocGPUS, else GPUHours / (End - Start).
    """
    out = dict(cells)
    times = {}
    for name in TIME_FIELDS:
        if name in out:
            times[name] = _utc_time(out[name], f"jobs[{index}].{name}")
            if times[name] is not None:
                out[name] = times[name].strftime("%Y-%m-%dT%H:%M:%S")
    if "JobIDRaw" not in out and (match := JOB_ID_RE.match(out.get("JobID", ""))):
        job, kind, member, step = match.groups()
        raw = int(job) if kind is None else int(job) * SYNTHETIC_RAW_BASE + int(member)
        out["JobIDRaw"] = f"{raw}{step or ''}"
    if "AllocTRES" not in out and "AllocGRES" not in out and any(f in out for f in ("AllocCPUS", *SEED_GPU_FIELDS)):
        gpus = _seed_gpus(out, times.get("Start"), times.get("End"))
        tres = [f"cpu={out['AllocCPUS']}"] if out.get("AllocCPUS") else []
        out["AllocTRES"] = ",".join(tres + ([f"gres/gpu={gpus}"] if gpus else []))
    return out


def _seed_gpus(cells: dict[str, str], start: dt.datetime | None, end: dt.datetime | None) -> int:
    """GPUs of a seed JSON job: AllocGPUS, else GPUHours over its elapsed hours (rounded), else 0."""
    try:
        if cells.get("AllocGPUS", "") != "":
            return max(int(float(cells["AllocGPUS"])), 0)
        hours = float(cells.get("GPUHours") or 0)
    except ValueError:
        return 0  # not a number: AllocTRES stays without GPUs, as the sacct text would lack them
    elapsed = (end - start).total_seconds() / 3600 if start and end else 0
    return max(round(hours / elapsed), 0) if hours > 0 and elapsed > 0 else 0


def _job_day(cells: dict[str, str], index: int) -> str:
    # Every present time field is checked, not only the one that decides the day.
    days = [_utc_day(cells[name], f"jobs[{index}].{name}") for name in DAY_FIELDS if name in cells]
    for day in days:
        if day is not None:
            return day
    raise SeedJsonError(f"jobs[{index}]: no End, Start or Submit timestamp, so the job has no day to be filed under")


def seed_cluster(body: object) -> str:
    """The validated cluster name (``hostname``) of a decoded seed JSON body."""
    if not isinstance(body, dict):
        raise SeedJsonError(f"body must be a JSON object with 'hostname' and 'jobs', got {type(body).__name__}")
    hostname = body.get("hostname")
    if not isinstance(hostname, str):
        raise SeedJsonError("'hostname' (the cluster name) is missing or not a string")
    try:
        return paths.check_cluster_name(hostname)
    except paths.InvalidNameError as err:
        raise SeedJsonError(f"'hostname': {err}") from err


def parse_seed_body(body: object) -> SeedBody:
    """Validate a decoded seed JSON body and split it into one sacct text per UTC day."""
    cluster = seed_cluster(body)
    jobs = body.get("jobs")
    if not isinstance(jobs, list):
        raise SeedJsonError("'jobs' is missing or not a list of objects")
    by_day: dict[str, list[dict[str, str]]] = {}
    for index, job in enumerate(jobs):
        if not isinstance(job, dict):
            raise SeedJsonError(f"jobs[{index}] must be an object of sacct field: value, got {type(job).__name__}")
        cells: dict[str, str] = {}
        for name, value in job.items():
            if not name or not _encodable(name) or any(c in name for c in FORBIDDEN_CHARS):
                raise SeedJsonError(
                    f"jobs[{index}]: field name {name[:80]!r} is empty, not valid Unicode, "
                    "or contains '|' or a line break"
                )
            cells[name] = _field_text(value, f"jobs[{index}].{name}")
        by_day.setdefault(_job_day(cells, index), []).append(_sacct_cells(cells, index))
    days = []
    for day in sorted(by_day):
        # The day's header: the union of its jobs' keys in order of first appearance.
        fields = tuple(dict.fromkeys(name for cells in by_day[day] for name in cells))
        lines = ["|".join(fields)] + ["|".join(cells.get(f, "") for f in fields) for cells in by_day[day]]
        days.append(SeedDay(day, fields, ("\n".join(lines) + "\n").encode(), len(by_day[day])))
    return SeedBody(cluster, tuple(days))
