#!/usr/bin/env python3
"""slurm-usage-history-exporter: ship SLURM accounting records (sacct) to slurm-usage-history.

One file, Python >= 3.8, standard library only: copy it to any login node.

Every run extracts ``sacct`` output per UTC day and turns each day into a *drop*
(docs/DROP_FORMAT.md: the raw ``sacct --parsable2`` text, gzip-compressed, plus a
JSON manifest with its sha256, row count, field list and a capacity snapshot).
Three ways to ship drops:

  push   (default)  POST each drop to <api_url>/api/data/ingest (HTTPS, X-API-Key);
                    undeliverable drops wait in spool_dir and go first next run.
  drop              --output-dir DIR: write DIR/<cluster>/<YYYY-MM-DD>/<id>.psv.gz +
                    <id>.manifest.json (rsync DIR to the server's landing directory).
  pull              --stdout: write a drop stream to stdout (the server's SSH pull
                    mode pipes this file into ``python3 -`` on the login node).

Examples:
  slurm-usage-history-exporter --dry-run --start-date 2024-05-01 --end-date 2024-05-31
  slurm-usage-history-exporter                      # push, from the saved watermark
  slurm-usage-history-exporter --output-dir /srv/drops --start-date 2024-01-01
  python3 - --no-config --stdout --cluster alpha --start-date 2024-05-01 --end-date 2024-05-01 < exporter.py

Exit codes: 0 success; 1 unexpected error; 2 usage or configuration error;
3 sacct/extraction failure; 4 delivery failure (drops kept in spool_dir);
5 another run holds the lock.
"""

# ruff: noqa: FA100 - typing.Optional/List on purpose: STYLE.md keeps `X | Y` out of this Python 3.8 file
import argparse
import datetime as dt
import fcntl
import hashlib
import http.client
import json
import logging
import os
import random
import re
import shutil
import socket
import ssl
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from typing import (
    IO,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
)

__version__ = "1.0.0"

LOG = logging.getLogger("slurm-usage-history-exporter")

DROP_FORMAT = "slurm-usage-drop/2"  # /2 adds the optional ``associations`` and ``capacity`` sections
DEFAULT_CONFIG_PATH = "/etc/slurm-usage-history-exporter/config.json"
API_KEY_ENV = "SLURM_USAGE_API_KEY"
SACCT_ENV = "SLURM_USAGE_SACCT"
CONTENT_TYPE = "application/x-slurm-usage-drop"
INGEST_PATH = "/api/data/ingest"
HEALTH_PATH = "/api/dashboard/health"
CHUNK = 1 << 20
# gzip level 1: sacct text compresses ~10x even at level 1, and a year of a busy
# cluster (about 1 GB of text) must ship at close to `gzip -1` speed.
GZIP_LEVEL = 1
CLUSTER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # used with fullmatch: no trailing newline
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SACCT = 3
EXIT_PUSH = 4
EXIT_LOCKED = 5

# The fields we ask sacct for, in this order, when this Slurm knows them
# (probed with `sacct --helpformat`: ReqGRES/AllocGRES were removed and
# Slurm 20.11 made unknown fields fatal). JobName goes last: a name may hold a
# '|' that --parsable2 does not escape, and a parser can then still read every
# other column by position.
WANTED_FIELDS = (
    "JobID",
    "JobIDRaw",
    "Cluster",
    "User",
    "UID",
    "Group",
    "Account",
    "Partition",
    "QOS",
    "State",
    "ExitCode",
    "DerivedExitCode",
    "Reason",
    "Submit",
    "Eligible",
    "Start",
    "End",
    "Elapsed",
    "ElapsedRaw",
    "Timelimit",
    "TimelimitRaw",
    "Suspended",
    "NNodes",
    "NodeList",
    "AllocCPUS",
    "NCPUS",
    "ReqCPUS",
    "ReqMem",
    "ReqNodes",
    "ReqTRES",
    "AllocTRES",
    "TotalCPU",
    "UserCPU",
    "SystemCPU",
    "CPUTimeRAW",
    "MaxRSS",
    "AveRSS",
    "MaxVMSize",
    "TRESUsageInTot",
    "TRESUsageInMax",
    "ConsumedEnergyRaw",
    "Priority",
    "Reservation",
    "Constraints",
    "Flags",
    "WCKey",
    "NTasks",
    "JobName",
)
# Without these a drop cannot be parsed or counted: refuse to extract.
REQUIRED_FIELDS = (
    "JobID",
    "JobIDRaw",
    "State",
    "Submit",
    "Start",
    "End",
    "Elapsed",
    "AllocCPUS",
    "AllocTRES",
)

# key -> (accepted types, default, one-line help). Unknown keys are an error.
CONFIG_KEYS = {
    "api_url": ((str, type(None)), None, "server base URL, e.g. https://usage.example.org"),
    "api_key": ((str, type(None)), None, "API key (prefer api_key_file or env " + API_KEY_ENV + ")"),
    "api_key_file": ((str, type(None)), None, "file holding the API key (first line)"),
    "timeout": ((int, float), 60, "HTTP timeout per request, seconds"),
    "cluster_name": ((str, type(None)), None, "cluster name; default: ClusterName from scontrol"),
    "collection_window_days": ((int,), 3, "days before today re-collected on every run"),
    "spool_dir": ((str, type(None)), "/var/spool/slurm-usage-history-exporter", "undelivered drops"),
    "state_file": ((str, type(None)), "/var/lib/slurm-usage-history-exporter/state.json", "watermark"),
    "output_dir": ((str, type(None)), None, "drop mode: write drops here instead of pushing"),
    "sacct_path": ((str,), "sacct", "sacct executable"),
    "scontrol_path": ((str,), "scontrol", "scontrol executable (cluster name, inventory)"),
    "sacct_timeout": ((int, float), 3600, "seconds before a hanging sacct is killed"),
    "ca_bundle": ((str, type(None)), None, "PEM file of CAs to trust instead of the system store"),
    "allow_insecure_http": ((bool,), False, "allow http:// to hosts other than localhost"),
    "retry_attempts": ((int,), 5, "attempts per request on connection errors, 429 and 5xx"),
    "retry_backoff_seconds": ((int, float), 2, "first retry delay; doubles each attempt, with jitter"),
    "retry_max_backoff_seconds": ((int, float), 300, "longest delay between attempts"),
    "collect_inventory": ((bool,), True, "record the node inventory (scontrol show node)"),
    "sacctmgr_path": ((str,), "sacctmgr", "sacctmgr executable (associations and coordinators)"),
    "collect_associations": ((bool,), True, "record associations and coordinators (dashboard roles)"),
    "sreport_path": ((str,), "sreport", "sreport executable (capacity history from slurmdbd)"),
    "collect_capacity_history": ((bool,), True, "record slurmdbd's cluster utilization and events for each day"),
}
PLACEHOLDER_KEY = "CHANGE-ME"


class AgentError(Exception):
    """An error with a message that says what to fix; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR):
        super().__init__(message)
        self.code = code


class CommandError(AgentError):
    """A Slurm command failed (not found, non-zero exit, timeout); carries its stderr."""

    def __init__(self, message: str):
        super().__init__(message, EXIT_SACCT)


class DeliveryError(AgentError):
    """A drop could not be delivered; it stays in the spool."""

    def __init__(self, message: str, fatal: bool = False, status: int = 0):
        super().__init__(message, EXIT_PUSH)
        self.fatal = fatal  # 401/403/TLS: every further request would fail the same way
        self.status = status


# ---------------------------------------------------------------- pure helpers


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def format_utc(moment: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` for an aware datetime."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> dt.datetime:
    """Parse ``YYYY-MM-DDTHH:MM:SSZ`` (Python 3.8's fromisoformat does not take 'Z')."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def parse_day(text: str, option: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise AgentError(f"{option} {text!r} is not a date; use YYYY-MM-DD, e.g. 2024-05-01", EXIT_USAGE)


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def utc_day_windows(start: dt.datetime, end: dt.datetime) -> List[Tuple[dt.datetime, dt.datetime]]:
    """Split ``[start, end)`` at UTC midnights: one window per UTC day, the last may be partial."""
    windows = []
    cursor = start
    while cursor < end:
        next_midnight = day_start(cursor.date() + dt.timedelta(days=1))
        windows.append((cursor, min(next_midnight, end)))
        cursor = next_midnight
    return windows


def sacct_time(moment: dt.datetime) -> str:
    """sacct -S/-E value; sacct runs with TZ=UTC and takes no offset."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def parse_helpformat(text: str) -> List[str]:
    """Field names from ``sacct --helpformat`` (whitespace-separated columns)."""
    return text.split()


def choose_fields(known: Iterable[str]) -> List[str]:
    """WANTED_FIELDS that this sacct knows (case-insensitive), in WANTED order; error if a required one is missing."""
    known_lower = {name.lower() for name in known}
    fields = [name for name in WANTED_FIELDS if name.lower() in known_lower]
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if missing:
        raise AgentError(
            "sacct --helpformat lacks required field(s) {}; this Slurm is too old or sacct_path points "
            "at something that is not sacct".format(", ".join(missing)),
            EXIT_SACCT,
        )
    return fields


def build_sacct_argv(
    sacct: str, fields: Sequence[str], start: dt.datetime, end: dt.datetime, cluster: Optional[str]
) -> List[str]:
    """The one sacct command line every mode uses (docs/DROP_FORMAT.md)."""
    argv = [
        sacct,
        "--allusers",
        "--duplicates",
        "--parsable2",
        "--format=" + ",".join(fields),
        "-S",
        sacct_time(start),
        "-E",
        sacct_time(end),
    ]
    if cluster:
        # --clusters makes the drop's label and its content agree on a multi-cluster slurmdbd.
        argv += ["--clusters", cluster]
    return argv


def check_cluster_name(name: str) -> str:
    if not CLUSTER_NAME_RE.fullmatch(name) or ".." in name:
        raise AgentError(
            f"invalid cluster name {name!r}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter "
            "or digit, without '..' (set cluster_name or --cluster)",
            EXIT_USAGE,
        )
    return name


def parse_elapsed(text: str) -> int:
    """sacct duration ``[D-][HH:]MM:SS[.mmm]`` -> whole seconds; empty/unknown -> 0."""
    text = text.strip()
    if not text or text in ("INVALID", "UNLIMITED", "Unknown", "Partition_Limit"):
        return 0
    days = 0
    if "-" in text:
        day_part, text = text.split("-", 1)
        days = int(day_part)
    parts = [float(p) for p in text.split(":")]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return days * 86400 + int(seconds)


def tres_gpus(tres: str) -> Tuple[int, Dict[str, int]]:
    """GPUs in a TRES string: (total, {type: n}).

    Total is ``gres/gpu=N`` when present, else the sum of typed ``gres/gpu:TYPE=N``;
    ``gres/gpumem`` and ``gres/gpuutil`` are not GPUs (DESIGN.md "Definitions").
    """
    untyped = None
    typed = {}  # type: Dict[str, int]
    for item in tres.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            continue
        if key == "gres/gpu":
            untyped = _count(value)
        elif key.startswith("gres/gpu:"):
            gpu_type = key[len("gres/gpu:") :]
            typed[gpu_type] = typed.get(gpu_type, 0) + _count(value)
    total = untyped if untyped is not None else sum(typed.values())
    return total, typed


def _count(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def normalize_state(state: str) -> str:
    """``CANCELLED by 123`` -> ``CANCELLED``; other states unchanged."""
    return state.split(" ", 1)[0] if state else "UNKNOWN"


class UsageSummary:
    """Streaming totals over sacct --parsable2 text: what --dry-run prints.

    Counts job allocations (rows whose JobID has no '.'; array tasks are rows of
    their own; a pending array remainder like ``56_[3-6%2]`` is one row), CPU-hours
    = AllocCPUS x Elapsed / 3600, GPU-hours from AllocTRES (DESIGN.md); pending
    jobs contribute 0. Feed bytes in any chunking.
    """

    def __init__(self) -> None:
        self.jobs = 0
        self.cpu_seconds = 0
        self.gpu_seconds = 0
        self.states = {}  # type: Dict[str, int]
        self.malformed = 0
        self.rows = 0
        self._index = None  # type: Optional[Dict[str, int]]
        self._width = 0
        self._rest = b""

    def feed(self, chunk: bytes) -> None:
        data = self._rest + chunk
        lines = data.split(b"\n")
        self._rest = lines.pop()
        for line in lines:
            self._line(line.decode("utf-8", "replace").rstrip("\r"))

    def close(self) -> "UsageSummary":
        if self._rest:
            self._line(self._rest.decode("utf-8", "replace").rstrip("\r"))
            self._rest = b""
        return self

    def _line(self, line: str) -> None:
        if self._index is None:
            names = line.split("|")
            self._index = {name: i for i, name in enumerate(names)}
            missing = [n for n in ("JobID", "State", "AllocCPUS", "Elapsed", "AllocTRES") if n not in self._index]
            if line and missing:
                raise AgentError(
                    "sacct output header lacks {}: {!r}".format(", ".join(missing), line[:200]), EXIT_SACCT
                )
            self._width = max(self._index.values()) + 1 if line else 0
            return
        if not line:
            return
        self.rows += 1
        values = line.split("|")
        if len(values) < self._width:
            # A job name with a newline continues on the next line; count, never hide.
            self.malformed += 1
            return
        index = self._index
        if "." in values[index["JobID"]]:
            return  # a step (.batch, .extern, .0): its resources belong to the allocation
        state = normalize_state(values[index["State"]])
        self.jobs += 1
        self.states[state] = self.states.get(state, 0) + 1
        if state == "PENDING":
            return
        try:
            elapsed = parse_elapsed(values[index["Elapsed"]])
            cpus = int(values[index["AllocCPUS"]] or 0)
        except ValueError:
            self.malformed += 1
            return
        self.cpu_seconds += cpus * elapsed
        self.gpu_seconds += tres_gpus(values[index["AllocTRES"]])[0] * elapsed

    def as_dict(self) -> Dict[str, Any]:
        return {
            "jobs": self.jobs,
            "cpu_hours": self.cpu_seconds / 3600.0,
            "gpu_hours": self.gpu_seconds / 3600.0,
            "states": dict(sorted(self.states.items())),
        }


_NODE_KEY_RE = {
    key: re.compile(rf"(?:^|\s){key}=(\S*)")
    for key in ("NodeName", "CPUTot", "RealMemory", "Gres", "State", "Partitions", "CfgTRES")
}


def _split_gres(gres: str) -> List[str]:
    """Split ``gpu:a100:2(S:0,1),gpu:v100:2`` at commas outside parentheses."""
    items, depth, current = [], 0, ""
    for char in gres:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return [item for item in items if item]


def gres_gpus(gres: str) -> Dict[str, int]:
    """GPUs by type from a node's ``Gres=`` value (``gpu:a100:2``, ``gpu:2``, ``(null)``)."""
    gpus = {}  # type: Dict[str, int]
    for item in _split_gres(gres):
        parts = re.sub(r"\(.*\)$", "", item).split(":")
        if parts[0] != "gpu" or len(parts) < 2:
            continue
        count = _count(parts[-1])
        gpu_type = parts[1] if len(parts) > 2 else ""
        gpus[gpu_type] = gpus.get(gpu_type, 0) + count
    return gpus


def parse_node_inventory(text: str, collected_at: dt.datetime) -> Dict[str, Any]:
    """``scontrol show node --oneliner`` -> the manifest ``inventory`` object (docs/DROP_FORMAT.md)."""
    nodes = []
    for line in text.splitlines():
        found = {}
        for key, pattern in _NODE_KEY_RE.items():
            match = pattern.search(line)
            if match:
                found[key] = match.group(1)
        if "NodeName" not in found:
            continue
        gpus = {}  # type: Dict[str, int]
        if found.get("CfgTRES"):
            total, gpus = tres_gpus(found["CfgTRES"])
            if total > sum(gpus.values()):
                gpus[""] = total - sum(gpus.values())
        if not gpus and found.get("Gres"):
            gpus = gres_gpus(found["Gres"])
        partitions = found.get("Partitions", "")
        nodes.append(
            {
                "node": found["NodeName"],
                "partitions": [p for p in partitions.split(",") if p and p != "(null)"],
                "cpus": _count(found.get("CPUTot", "0")),
                "mem_bytes": _count(found.get("RealMemory", "0")) * 1024 * 1024,
                "gpus": dict(sorted(gpus.items())),
                "state": found.get("State", ""),
            }
        )
    return {"collected_at": format_utc(collected_at), "nodes": nodes}


def _psv_records(text: str) -> List[Dict[str, str]]:
    """``sacctmgr -P`` text with its header line -> one dict per line, keyed by lower-case header names."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = [h.strip().lower() for h in lines[0].split("|")]
    return [dict(zip(header, (v.strip() for v in line.split("|")))) for line in lines[1:]]


def _pick(record: Dict[str, str], *names: str) -> str:
    for name in names:
        if name in record:
            return record[name]
    return ""


def parse_associations(assoc_text: str, coord_text: str, cluster: str, collected_at: dt.datetime) -> Dict[str, Any]:
    """``sacctmgr -P show associations`` + ``show account withcoord`` -> the manifest ``associations`` object.

    Columns are found by their header names (any order, extra columns ignored); rows of
    other clusters in a shared slurmdbd are left out. An account row has a parent and no
    user; a user row has a user. Coordinators are a comma list per account.
    """
    rows = []  # type: List[Dict[str, str]]
    for rec in _psv_records(assoc_text):
        row_cluster = _pick(rec, "cluster")
        account = _pick(rec, "account")
        if not account or (row_cluster and row_cluster != cluster):
            continue
        parent = _pick(rec, "parentname", "par name", "parent")
        rows.append({"account": account, "parent": parent, "user": _pick(rec, "user")})
    coordinators = []  # type: List[Dict[str, str]]
    for rec in _psv_records(coord_text):
        account = _pick(rec, "account")
        names = next((v for k, v in rec.items() if "coord" in k), "")
        for user in sorted({u.strip() for u in names.split(",") if u.strip()}):
            if account:
                coordinators.append({"account": account, "user": user})
    return {"collected_at": format_utc(collected_at), "associations": rows, "coordinators": coordinators}


def collect_associations(
    runner: "Runner", sacctmgr: str, cluster: str, now: Callable[[], dt.datetime]
) -> Optional[Dict[str, Any]]:
    """Associations and coordinators from slurmdbd (once per run); None, with a warning, if sacctmgr fails."""
    try:
        assoc = run_text(
            runner,
            [sacctmgr, "-P", "show", "associations", "cluster=" + cluster, "format=Cluster,Account,ParentName,User"],
            120,
        )
        coord = run_text(runner, [sacctmgr, "-P", "show", "account", "withcoord"], 120)
    except CommandError as err:
        LOG.warning("no associations this run (dashboard roles keep the last snapshot): %s", err)
        return None
    found = parse_associations(assoc, coord, cluster, now())
    LOG.info("associations: %d row(s), %d coordinator(s)", len(found["associations"]), len(found["coordinators"]))
    return found


# sreport's column names (lower case) -> the drop's keys; Slurm versions call reserved time Reserved or Planned.
SREPORT_COLUMNS = {
    "allocated": "allocated",
    "down": "down",
    "plnd down": "planned_down",
    "planned down": "planned_down",
    "idle": "idle",
    "planned": "planned",
    "reserved": "planned",
    "reported": "reported",
}
EVENT_FIELDS = ("NodeName", "TimeStart", "TimeEnd", "State", "Reason", "Event", "TRES")
MAX_EVENTS = 10000  # per window: a flapping node cannot make a drop's manifest unbounded


def parse_sreport_utilization(text: str) -> Dict[str, Dict[str, int]]:
    """``sreport -P -t seconds cluster utilization --tres=cpu,gres/gpu`` -> {TRES name: {allocated, down,
    planned_down, idle, planned, reported}} in TRES-seconds.

    The header line is kept (not ``-n``) so columns are found by name in any Slurm version; sreport's
    title lines have no ``|`` and are skipped. Without a TRES Name column the row is ``cpu``.
    """
    lines = [line for line in text.splitlines() if "|" in line]
    if not lines:
        return {}
    header = [h.strip().lower() for h in lines[0].split("|")]
    found = {}  # type: Dict[str, Dict[str, int]]
    for line in lines[1:]:
        rec = dict(zip(header, (v.strip() for v in line.split("|"))))
        values = {key: int(rec[col]) for col, key in SREPORT_COLUMNS.items() if rec.get(col, "").isdigit()}
        found[rec.get("tres name") or "cpu"] = values
    return found


def collect_capacity(
    runner: "Runner", config: "Config", cluster: str, window: Tuple[dt.datetime, dt.datetime]
) -> Dict[str, Any]:
    """slurmdbd's view of one window: cluster utilization (cpu and GPU TRES-seconds) and the cluster and
    node events overlapping it. Raises CommandError when sreport or sacctmgr fails."""
    start, end = "start=" + sacct_time(window[0]), "end=" + sacct_time(window[1])
    util = run_text(
        runner,
        [
            config.sreport_path,
            "-P",
            "-t",
            "seconds",
            "cluster",
            "utilization",
            "clusters=" + cluster,
            start,
            end,
            "--tres=cpu,gres/gpu",
        ],
        120,
    )
    events = run_text(
        runner,
        [
            config.sacctmgr_path,
            "-P",
            "show",
            "event",
            "clusters=" + cluster,
            start,
            end,
            "format=" + ",".join(EVENT_FIELDS),
        ],
        120,
    )
    records = _psv_records(events)
    if len(records) > MAX_EVENTS:
        LOG.warning("%s: %d slurmdbd events in one window, keeping the first %d", cluster, len(records), MAX_EVENTS)
    return {
        "window_start": format_utc(window[0]),
        "window_end": format_utc(window[1]),
        "utilization": parse_sreport_utilization(util),
        "events": [
            dict(
                {f.lower(): rec.get(f.lower(), "")[:256] for f in EVENT_FIELDS}, tres=capacity_tres(rec.get("tres", ""))
            )
            for rec in records[:MAX_EVENTS]
        ],
    }


def capacity_tres(tres: str) -> str:
    """The capacity entries of an event's TRES text (cpu, mem, node, gres/gpu...), so it stays short."""
    keep = ("cpu=", "mem=", "node=", "gres/gpu=", "gres/gpu:")
    return ",".join(item for item in tres.split(",") if item.startswith(keep))[:1024]


def window_capacity(
    runner: "Runner", config: "Config", cluster: str, window: Tuple[dt.datetime, dt.datetime], state: Dict[str, bool]
) -> Optional[Dict[str, Any]]:
    """``collect_capacity`` for one window, or None; after one failure none is tried for the rest of the run
    (one warning, not one per day of a backfill)."""
    if not config.collect_capacity_history or state.get("failed"):
        return None
    try:
        return collect_capacity(runner, config, cluster, window)
    except CommandError as err:
        state["failed"] = True
        LOG.warning("no capacity history from slurmdbd this run (sreport/sacctmgr): %s", err)
        return None


def parse_cluster_name(scontrol_config: str) -> Optional[str]:
    """ClusterName from ``scontrol show config``."""
    match = re.search(r"^\s*ClusterName\s*=\s*(\S+)", scontrol_config, re.MULTILINE)
    return match.group(1) if match else None


def build_manifest(
    cluster: str,
    window: Tuple[dt.datetime, dt.datetime],
    collected_at: dt.datetime,
    sacct_version: str,
    fields: Sequence[str],
    rows: int,
    sha256: str,
    gzip_size: int,
    source: str,
    inventory: Optional[Dict[str, Any]],
    associations: Optional[Dict[str, Any]] = None,
    capacity: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    return {
        "format": DROP_FORMAT,
        "cluster": cluster,
        "day": window[0].strftime("%Y-%m-%d"),
        "window_start": format_utc(window[0]),
        "window_end": format_utc(window[1]),
        "collected_at": format_utc(collected_at),
        "sacct_version": sacct_version,
        "fields": list(fields),
        "rows": rows,
        "sha256": sha256,
        "gzip_size": gzip_size,
        "agent_version": __version__,
        "source": source,
        "inventory": inventory,
        "associations": associations,
        "capacity": capacity,
    }


def manifest_line(manifest: Dict[str, Any]) -> bytes:
    """The first line of a drop stream."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n"


def is_local_url(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host.lower() in LOCAL_HOSTS


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Delay before retry ``attempt`` (1-based): exponential, capped, with jitter in [d/2, d]."""
    delay = min(cap, base * (2 ** (attempt - 1)))
    return rng.uniform(delay / 2.0, delay)


class Config:
    """Validated configuration: CONFIG_KEYS as attributes."""

    def __init__(self, values: Dict[str, Any]):
        for key, (_types, default, _help) in CONFIG_KEYS.items():
            setattr(self, key, values.get(key, default))

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> "Config":
        if not isinstance(raw, dict):
            raise AgentError(f"{where}: the configuration must be a JSON object {{...}}", EXIT_USAGE)
        for key, value in raw.items():
            if key not in CONFIG_KEYS:
                raise AgentError(
                    "{}: unknown key {!r}; known keys: {}".format(where, key, ", ".join(sorted(CONFIG_KEYS))),
                    EXIT_USAGE,
                )
            types = CONFIG_KEYS[key][0]
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                names = " or ".join(
                    "null"
                    if t is type(None)
                    else {"str": "string", "int": "integer", "float": "number", "bool": "true/false"}[t.__name__]
                    for t in types
                )
                raise AgentError(f"{where}: key {key!r} must be {names}, got {value!r}", EXIT_USAGE)
        config = cls(raw)
        checks = (
            ("timeout", config.timeout > 0, "> 0"),
            ("collection_window_days", 0 <= config.collection_window_days <= 3660, "between 0 and 3660"),
            ("sacct_timeout", config.sacct_timeout > 0, "> 0"),
            ("retry_attempts", 1 <= config.retry_attempts <= 100, "between 1 and 100"),
            ("retry_backoff_seconds", config.retry_backoff_seconds >= 0, ">= 0"),
            ("retry_max_backoff_seconds", config.retry_max_backoff_seconds >= 0, ">= 0"),
        )
        for key, ok, expected in checks:
            if not ok:
                raise AgentError(f"{where}: key {key!r} must be {expected}, got {getattr(config, key)!r}", EXIT_USAGE)
        if config.cluster_name is not None:
            check_cluster_name(config.cluster_name)
        return config


# ------------------------------------------------------------------------- I/O

Runner = Callable[[Sequence[str], Optional[float]], Iterator[bytes]]


def run_command(argv: Sequence[str], timeout: Optional[float] = None) -> Iterator[bytes]:
    """Run a Slurm command with TZ=UTC; yield its stdout in chunks; raise CommandError on failure.

    Streams, so a year of sacct output never sits in memory. stderr is read by a
    thread (kept to its last 64 KiB for the error message); a run longer than
    ``timeout`` seconds is killed.
    """
    env = dict(os.environ, TZ="UTC")
    env.pop(API_KEY_ENV, None)  # sacct/scontrol never need the key: keep it out of their environment
    try:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    except FileNotFoundError:
        raise CommandError(
            f"{argv[0]} not found: install Slurm's client commands or set sacct_path/scontrol_path "
            f"(or --sacct / {SACCT_ENV})"
        )
    except PermissionError:
        raise CommandError(f"{argv[0]} is not executable by this user (permission denied)")
    stderr_tail = bytearray()

    def drain_stderr() -> None:
        for line in proc.stderr:
            stderr_tail.extend(line)
            del stderr_tail[:-65536]

    reader = threading.Thread(target=drain_stderr, daemon=True)
    reader.start()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    finished = False
    try:
        while True:
            chunk = proc.stdout.read(CHUNK)
            if not chunk:
                break
            yield chunk
        finished = True
    finally:
        if not finished:
            proc.kill()
        proc.stdout.close()
        returncode = proc.wait()
        if timer:
            timer.cancel()
        reader.join(5)
    command = " ".join(argv[:2]) + (" ..." if len(argv) > 2 else "")
    if timed_out.is_set():
        raise CommandError(
            f"{command} timed out after {timeout} s and was killed (slurmdbd slow or down? raise sacct_timeout)"
        )
    if returncode != 0:
        detail = stderr_tail.decode("utf-8", "replace").strip() or "(no stderr)"
        hint = ""
        if "permission" in detail.lower() or "access denied" in detail.lower():
            hint = (
                "; the service user may not read other users' jobs (PrivateData): grant it "
                "`sacctmgr -i add user <user> account=root adminlevel=Operator`"
            )
        elif "slurmdbd" in detail.lower() or "connection" in detail.lower():
            hint = "; is slurmdbd running and reachable from this host?"
        raise CommandError(f"{command} failed (exit {returncode}): {detail[-2000:]}{hint}")


def run_text(runner: Runner, argv: Sequence[str], timeout: Optional[float]) -> str:
    return b"".join(runner(argv, timeout)).decode("utf-8", "replace")


def gzip_header() -> bytes:
    """A fixed gzip header (mtime 0, no name, XFL=4 'fast', OS=255): same text, same bytes, any Python."""
    return b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x04\xff"


class DropEncoder:
    """Writes gzip to ``out`` while hashing and counting the uncompressed text."""

    def __init__(self, out: IO[bytes]):
        self.out = out
        self.sha = hashlib.sha256()
        self.crc = 0
        self.size = 0
        self.lines = 0
        self.gzip_size = 0
        self._deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
        self._emit(gzip_header())

    def _emit(self, data: bytes) -> None:
        if data:
            self.out.write(data)
            self.gzip_size += len(data)

    def write(self, chunk: bytes) -> None:
        self.sha.update(chunk)
        self.crc = zlib.crc32(chunk, self.crc)
        self.size += len(chunk)
        self.lines += chunk.count(b"\n")
        self._emit(self._deflate.compress(chunk))

    def close(self) -> None:
        self._emit(self._deflate.flush())
        self._emit(struct.pack("<II", self.crc & 0xFFFFFFFF, self.size & 0xFFFFFFFF))

    @property
    def rows(self) -> int:
        """Newline-terminated lines after the header (docs/DROP_FORMAT.md)."""
        return max(self.lines - 1, 0) if self.size else 0


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``path`` via a temp file in the same folder, fsync and os.replace: never half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


class Drop:
    """An extracted drop: its manifest and the path of its gzip data."""

    def __init__(self, manifest: Dict[str, Any], data_path: str):
        self.manifest = manifest
        self.data_path = data_path

    @property
    def drop_id(self) -> str:
        return self.manifest["sha256"][:16]

    @property
    def label(self) -> str:
        return "{} {} drop {}".format(self.manifest["cluster"], self.manifest["day"], self.drop_id)


def extract_drop(
    runner: Runner,
    argv: Sequence[str],
    timeout: Optional[float],
    folder: str,
    manifest_fields: Dict[str, Any],
    now: Callable[[], dt.datetime],
) -> Drop:
    """Run sacct for one window, streaming into a gzip temp file in ``folder``; return the Drop.

    The caller moves ``data_path`` into place and writes the manifest last.
    """
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".psv.gz", dir=folder)
    try:
        collected_at = now()
        with os.fdopen(fd, "wb") as fh:
            encoder = DropEncoder(fh)
            for chunk in runner(argv, timeout):
                encoder.write(chunk)
            encoder.close()
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    manifest = build_manifest(
        rows=encoder.rows,
        sha256=encoder.sha.hexdigest(),
        gzip_size=encoder.gzip_size,
        collected_at=collected_at,
        **manifest_fields,
    )
    return Drop(manifest, tmp)


def publish_drop(drop: Drop, folder: str, name: str) -> Drop:
    """Move a drop's data to ``folder/<name>.psv.gz`` and write ``<name>.manifest.json`` last, atomically.

    An identical drop already there (same name) is kept and the new copy discarded.
    """
    data_path = os.path.join(folder, name + ".psv.gz")
    manifest_path = os.path.join(folder, name + ".manifest.json")
    if os.path.exists(manifest_path) and os.path.exists(data_path):
        os.unlink(drop.data_path)
        return Drop(drop.manifest, data_path)
    os.chmod(drop.data_path, 0o640)
    os.replace(drop.data_path, data_path)
    fsync_dir(folder)
    write_atomic(manifest_path, json.dumps(drop.manifest, sort_keys=True, indent=1).encode("utf-8") + b"\n", 0o640)
    return Drop(drop.manifest, data_path)


def spooled_drops(spool_dir: str) -> List[Drop]:
    """Complete drops waiting in the spool, oldest first."""
    drops = []
    if not os.path.isdir(spool_dir):
        return drops
    for name in os.listdir(spool_dir):
        if not name.endswith(".manifest.json") or name.startswith("."):
            continue
        manifest_path = os.path.join(spool_dir, name)
        data_path = manifest_path[: -len(".manifest.json")] + ".psv.gz"
        try:
            with open(manifest_path, "rb") as fh:
                manifest = json.loads(fh.read().decode("utf-8"))
        except (OSError, ValueError) as err:
            LOG.warning("spool: skipping unreadable %s (%s); move it away or delete it", manifest_path, err)
            continue
        if os.path.exists(data_path):
            drops.append(Drop(manifest, data_path))
    return sorted(drops, key=lambda d: (d.manifest.get("collected_at", ""), d.manifest.get("day", ""), d.drop_id))


def remove_stale_temps(folder: str) -> None:
    """Delete ``.tmp-*`` files a killed run left in ``folder`` (call with the lock held)."""
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        if name.startswith(".tmp-"):
            LOG.debug("removing %s left by an interrupted run", name)
            os.unlink(os.path.join(folder, name))


def remove_spooled(drop: Drop) -> None:
    base = drop.data_path[: -len(".psv.gz")]
    os.unlink(base + ".manifest.json")  # first: a drop without manifest is ignored
    os.unlink(drop.data_path)


def reject_spooled(drop: Drop, spool_dir: str) -> str:
    """Move a drop the server refused for good (413/422) to spool_dir/rejected/, keeping it."""
    folder = os.path.join(spool_dir, "rejected")
    os.makedirs(folder, exist_ok=True)
    base = drop.data_path[: -len(".psv.gz")]
    os.replace(drop.data_path, os.path.join(folder, os.path.basename(drop.data_path)))
    os.replace(base + ".manifest.json", os.path.join(folder, os.path.basename(base) + ".manifest.json"))
    return folder


def write_stream(drop: Drop, out: IO[bytes]) -> None:
    out.write(manifest_line(drop.manifest))
    with open(drop.data_path, "rb") as fh:
        shutil.copyfileobj(fh, out, CHUNK)
    out.flush()


class _StreamBody:
    """A file-like request body: manifest line, then the gzip file, read in blocks."""

    def __init__(self, drop: Drop):
        self._head = manifest_line(drop.manifest)
        self._fh = open(drop.data_path, "rb")  # noqa: SIM115 - closed by close() after the request
        self.length = len(self._head) + os.path.getsize(drop.data_path)

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._fh.read(size if size and size > 0 else CHUNK)

    def close(self) -> None:
        self._fh.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirected POST would lose its body: report it instead


class Pusher:
    """HTTP(S) delivery with retries; never logs the API key."""

    def __init__(self, config: Config, api_key: str, sleep: Callable[[float], None], rng: random.Random):
        self.url = config.api_url.rstrip("/")
        self.api_key = api_key
        self.config = config
        self.sleep = sleep
        self.rng = rng
        handlers = [_NoRedirect()]  # type: List[Any]
        if self.url.lower().startswith("https://"):
            try:
                context = ssl.create_default_context(cafile=config.ca_bundle)
            except (OSError, ssl.SSLError) as err:
                raise AgentError(
                    f"ca_bundle {config.ca_bundle!r} cannot be loaded: {err}; point it at a PEM file of CA "
                    "certificates",
                    EXIT_USAGE,
                )
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self.opener = urllib.request.build_opener(*handlers)

    def _request(self, method: str, path: str, drop: Optional[Drop]) -> Tuple[int, bytes]:
        """One request with retries on connection errors, 429 and 5xx; returns (status, body)."""
        attempts = self.config.retry_attempts
        for attempt in range(1, attempts + 1):
            body = _StreamBody(drop) if drop else None
            request = urllib.request.Request(self.url + path, data=body, method=method)
            request.add_header("User-Agent", "slurm-usage-history-exporter/" + __version__)
            if drop is not None:
                request.add_header("Content-Type", CONTENT_TYPE)
                request.add_header("Content-Length", str(body.length))
                request.add_header("X-API-Key", self.api_key)
            retry_after = 0.0
            try:
                with self.opener.open(request, timeout=self.config.timeout) as response:
                    return response.status, response.read(1 << 20)
            except urllib.error.HTTPError as err:
                status, payload = err.code, err.read(1 << 16)
                if status != 429 and status < 500:
                    return status, payload
                retry_after = _retry_after(err.headers.get("Retry-After"))
                problem = f"HTTP {status} {_detail(payload)}"
            except urllib.error.URLError as err:
                if isinstance(err.reason, ssl.SSLError):
                    raise DeliveryError(
                        f"TLS to {self.url} failed: {err.reason}; if the server uses a private CA or a self-signed certificate, "
                        "set ca_bundle to its PEM file",
                        fatal=True,
                    )
                problem = f"cannot connect to {self.url}: {err.reason}"
            except (OSError, http.client.HTTPException, socket.timeout) as err:
                problem = f"connection to {self.url} failed: {err}"
            finally:
                if body is not None:
                    body.close()
            if attempt == attempts:
                raise DeliveryError(f"{problem} (after {attempts} attempts)")
            delay = max(
                retry_after,
                backoff_delay(
                    attempt,
                    self.config.retry_backoff_seconds,
                    self.config.retry_max_backoff_seconds,
                    self.rng,
                ),
            )
            delay = min(delay, max(self.config.retry_max_backoff_seconds, 0))
            LOG.warning("%s; retry %d/%d in %.1f s", problem, attempt, attempts - 1, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def health(self) -> None:
        status, payload = self._request("GET", HEALTH_PATH, None)
        if status != 200:
            raise DeliveryError(
                f"health check {self.url}{HEALTH_PATH} answered HTTP {status} {_detail(payload)}; is api_url the slurm-usage-history "
                "receiver?"
            )
        LOG.debug("health check ok: %s", _detail(payload))

    def push(self, drop: Drop) -> Dict[str, Any]:
        status, payload = self._request("POST", INGEST_PATH, drop)
        detail = _detail(payload)
        cluster = drop.manifest["cluster"]
        if status == 200:
            try:
                return json.loads(payload.decode("utf-8"))
            except ValueError:
                return {}
        if status == 401:
            raise DeliveryError(
                f"HTTP 401 from {self.url}: the API key is missing or unknown ({detail}); set api_key, "
                f"api_key_file or {API_KEY_ENV} to a key the server lists in API_KEYS",
                fatal=True,
                status=401,
            )
        if status == 403:
            raise DeliveryError(
                f"HTTP 403 from {self.url}: this API key may not send cluster {cluster!r} ({detail}); ask the server "
                f"admin to bind the key to {cluster!r} (API_KEYS=key:{cluster}) or fix cluster_name",
                fatal=True,
                status=403,
            )
        if status == 413:
            raise DeliveryError(
                f"HTTP 413 from {self.url}: {drop.label} is larger than the server accepts ({detail}); raise the "
                "receiver's size limit",
                status=413,
            )
        if status == 422:
            raise DeliveryError(
                f"HTTP 422 from {self.url}: the server refused {drop.label} as malformed: {detail}",
                status=422,
            )
        hint = "; api_url redirects: set it to the final URL" if 300 <= status < 400 else ""
        raise DeliveryError(f"HTTP {status} from {self.url} for {drop.label}: {detail}{hint}", status=status)


def _retry_after(value: Optional[str]) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _detail(payload: bytes) -> str:
    text = payload.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict) and "detail" in parsed:
            return str(parsed["detail"])
    except ValueError:
        pass
    return text[:500]


class StateFile:
    """The watermark per cluster: end of the last extracted window, written atomically."""

    def __init__(self, path: Optional[str]):
        self.path = path

    def load(self) -> Dict[str, Any]:
        if not self.path or not os.path.exists(self.path):
            return {"watermarks": {}}
        fix = "delete it to re-collect collection_window_days back"
        try:
            with open(self.path, "rb") as fh:
                state = json.loads(fh.read().decode("utf-8"))
        except (OSError, ValueError) as err:
            raise AgentError(f"state file {self.path} is unreadable ({err}); {fix}", EXIT_USAGE) from err
        if not isinstance(state, dict) or not isinstance(state.get("watermarks"), dict):
            raise AgentError(f"state file {self.path} has no 'watermarks' object; {fix}", EXIT_USAGE)
        return state

    def watermark(self, cluster: str) -> Optional[dt.datetime]:
        value = self.load()["watermarks"].get(cluster)
        return parse_utc(value) if value else None

    def save_watermark(self, cluster: str, moment: dt.datetime) -> None:
        if not self.path:
            return
        state = self.load()
        state["watermarks"][cluster] = format_utc(moment)
        state["agent_version"] = __version__
        write_atomic(self.path, json.dumps(state, sort_keys=True, indent=1).encode("utf-8") + b"\n", 0o644)


def load_config(path: str) -> Config:
    try:
        with open(path, "rb") as fh:
            raw = json.loads(fh.read().decode("utf-8"))
    except FileNotFoundError:
        raise AgentError(
            f"config file {path} not found: copy config.json.example there (install.sh does), pass "
            "--config PATH, or run with --no-config",
            EXIT_USAGE,
        )
    except PermissionError:
        raise AgentError(
            f"config file {path} is not readable by this user (uid {os.getuid()}); run as the service user or "
            "fix its owner",
            EXIT_USAGE,
        )
    except ValueError as err:
        raise AgentError(f"config file {path} is not valid JSON: {err}", EXIT_USAGE)
    config = Config.from_dict(raw, path)
    if config.api_key and os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        LOG.warning("config file %s holds api_key and is readable by others; run: chmod 600 %s", path, path)
    return config


def resolve_api_key(config: Config) -> Optional[str]:
    """The key from env SLURM_USAGE_API_KEY, else api_key_file, else api_key."""
    if os.environ.get(API_KEY_ENV):
        return os.environ[API_KEY_ENV].strip()
    if config.api_key_file:
        try:
            if os.stat(config.api_key_file).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                LOG.warning(
                    "api_key_file %s is readable by others; run: chmod 600 %s",
                    config.api_key_file,
                    config.api_key_file,
                )
            with open(config.api_key_file, "rb") as fh:
                lines = fh.read().decode("utf-8").splitlines()
        except OSError as err:
            raise AgentError(f"api_key_file {config.api_key_file!r} cannot be read: {err.strerror}", EXIT_USAGE)
        key = lines[0].strip() if lines else ""
        if not key:
            raise AgentError(f"api_key_file {config.api_key_file!r} is empty", EXIT_USAGE)
        return key
    return config.api_key


class Lock:
    """An exclusive, non-blocking flock so two runs never share a spool or watermark."""

    def __init__(self, path: Optional[str]):
        self.path = path
        self.fh = None  # type: Optional[IO[bytes]]

    def __enter__(self) -> "Lock":  # noqa: PYI034 - typing.Self is not in Python 3.8
        if self.path:
            try:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
                self.fh = open(self.path, "ab")
            except OSError as err:
                raise AgentError(
                    f"cannot create {self.path} ({err.strerror}); run as the service user or set spool_dir/state_file to "
                    "a writable place",
                    EXIT_USAGE,
                )
            try:
                fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self.fh.close()
                raise AgentError(f"another run holds {self.path}; wait for it to finish", EXIT_LOCKED)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fh:
            self.fh.close()


# ------------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slurm-usage-history-exporter",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Extract SLURM accounting (sacct) per UTC day and ship it to slurm-usage-history.",
        epilog=(
            "modes: push to api_url (default) | --output-dir DIR (drop files) | --stdout (SSH pull) | --dry-run\n"
            "without dates: from the saved watermark (or collection_window_days back) to now, re-collecting\n"
            f"the last collection_window_days days. Env: {API_KEY_ENV} (API key), {SACCT_ENV} (sacct path).\n"
            "examples:\n"
            "  %(prog)s --dry-run --start-date 2024-05-01 --end-date 2024-05-31\n"
            "  %(prog)s --config /etc/slurm-usage-history-exporter/config.json --verbose\n"
            "  %(prog)s --output-dir /srv/slurm-drops --start-date 2024-01-01\n"
            "  python3 - --no-config --stdout --cluster alpha --start-date 2024-05-01 < exporter.py\n"
            "exit codes: 0 ok, 1 unexpected error, 2 usage/config, 3 sacct, 4 delivery (drops spooled),\n"
            "5 another run is active."
        ),
    )
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG_PATH,
        metavar="PATH",
        help="JSON config file (default: %(default)s)",
    )
    parser.add_argument(
        "--no-config",
        action="store_true",
        help="use defaults, read no config file and keep no state (SSH pull, demos)",
    )
    parser.add_argument("--start-date", metavar="YYYY-MM-DD", help="first UTC day, e.g. --start-date 2024-05-01")
    parser.add_argument(
        "--end-date",
        metavar="YYYY-MM-DD",
        help="last UTC day, inclusive (default: today), e.g. --end-date 2024-05-31",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print jobs, CPU-hours, GPU-hours and states for the period; ship nothing",
    )
    parser.add_argument("--json", action="store_true", help="with --dry-run: print the summary as one JSON object")
    parser.add_argument(
        "--output-dir",
        metavar="DIR",
        help="write drops to DIR/<cluster>/<day>/ instead of pushing, e.g. --output-dir /srv/drops",
    )
    parser.add_argument(
        "--stdout", action="store_true", help="write the drops as one drop stream to stdout (SSH pull mode)"
    )
    parser.add_argument("--cluster", metavar="NAME", help="cluster name (overrides cluster_name), e.g. --cluster alpha")
    parser.add_argument("--sacct", metavar="PATH", help="sacct executable (overrides sacct_path and " + SACCT_ENV + ")")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    return parser


def plan_windows(
    args: argparse.Namespace, config: Config, state: StateFile, cluster: str, now: dt.datetime
) -> Tuple[List[Tuple[dt.datetime, dt.datetime]], bool]:
    """The UTC-day windows to extract and whether the watermark follows them."""
    if args.start_date:
        start = day_start(parse_day(args.start_date, "--start-date"))
        last = parse_day(args.end_date, "--end-date") if args.end_date else now.date()
        if last < start.date():
            raise AgentError(f"--end-date {args.end_date} is before --start-date {args.start_date}", EXIT_USAGE)
        end = min(day_start(last + dt.timedelta(days=1)), now)
        if end <= start:
            raise AgentError(f"--start-date {args.start_date} is in the future (now {format_utc(now)})", EXIT_USAGE)
        return utc_day_windows(start, end), False
    if args.end_date:
        raise AgentError("--end-date needs --start-date", EXIT_USAGE)
    start = day_start(now.date() - dt.timedelta(days=config.collection_window_days))
    watermark = state.watermark(cluster)
    if watermark is not None and watermark < start:
        LOG.info("resuming from watermark %s", format_utc(watermark))
        start = day_start(watermark.date())
    return utc_day_windows(start, now), True


def print_summary(
    summary: UsageSummary, cluster: str, window: Tuple[dt.datetime, dt.datetime], as_json: bool, out: IO[str]
) -> None:
    first, last = window[0].date(), (window[1] - dt.timedelta(seconds=1)).date()
    result = dict(cluster=cluster, start=first.isoformat(), end=last.isoformat(), **summary.as_dict())
    result["window_start"], result["window_end"] = format_utc(window[0]), format_utc(window[1])
    if as_json:
        out.write(json.dumps(result, sort_keys=True) + "\n")
        return
    out.write(f"Cluster: {cluster}\n")
    out.write("Period: {} to {} (UTC)\n".format(result["start"], result["end"]))
    out.write("Jobs: {}\n".format(result["jobs"]))
    out.write("Total CPU-hours: {:.2f}\n".format(result["cpu_hours"]))
    out.write("Total GPU-hours: {:.2f}\n".format(result["gpu_hours"]))
    out.write("Jobs by state:\n")
    for name, count in result["states"].items():
        out.write(f"  {name}: {count}\n")


def main(
    argv: Optional[Sequence[str]] = None,
    runner: Optional[Runner] = None,
    now: Optional[Callable[[], dt.datetime]] = None,
    sleep: Callable[[float], None] = time.sleep,
    stdout: Optional[IO[bytes]] = None,
) -> int:
    """Run the exporter; return the exit code. ``runner``, ``now``, ``sleep`` and ``stdout`` are for tests."""
    args = build_parser().parse_args(argv)
    # One handler on the current stderr (journald under systemd); nothing to the root logger.
    for old in list(LOG.handlers):
        LOG.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))
    LOG.addHandler(handler)
    LOG.propagate = False
    LOG.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return _run(
            args,
            runner or run_command,
            now or utc_now,
            sleep,
            stdout if stdout is not None else sys.stdout.buffer,
        )
    except AgentError as err:
        LOG.error("%s", err)
        return err.code
    except KeyboardInterrupt:
        LOG.error("interrupted; the watermark and spool are consistent, run again to continue")
        return EXIT_ERROR


def _run(
    args: argparse.Namespace,
    runner: Runner,
    now: Callable[[], dt.datetime],
    sleep: Callable[[float], None],
    stdout: IO[bytes],
) -> int:
    config, mode, output_dir = _configure(args)
    api_key = _push_key(config, args) if mode == "push" else None
    cluster = _resolve_cluster(args, config, runner)
    with Lock(_lock_path(mode, config, args)):
        state = StateFile(config.state_file if mode != "dry-run" else None)
        moment = now()
        windows, follow_watermark = plan_windows(args, config, state, cluster, moment)
        sacct = args.sacct or os.environ.get(SACCT_ENV) or config.sacct_path
        sacct_version = run_text(runner, [sacct, "--version"], 60).strip() or "unknown"
        fields = choose_fields(parse_helpformat(run_text(runner, [sacct, "--helpformat"], 60)))
        LOG.info(
            "cluster %s, %s, %s, %d window(s) %s .. %s",
            cluster,
            sacct_version,
            mode,
            len(windows),
            format_utc(windows[0][0]),
            format_utc(windows[-1][1]),
        )
        LOG.debug("sacct fields: %s", ",".join(fields))
        if mode == "dry-run":
            return _dry_run(args, runner, config.sacct_timeout, sacct, fields, cluster, windows, stdout)
        snapshots = _snapshots(config, runner, cluster, now)
        recent = moment.date() - dt.timedelta(days=max(config.collection_window_days, 1))
        if mode == "push":
            output = _PushOutput(config, cluster, api_key, sleep)  # type: _Output
        elif mode == "drop":
            output = _DropOutput(output_dir, cluster)
        else:
            output = _StdoutOutput(stdout)
        capacity_state = {}  # type: Dict[str, bool]
        for window in windows:
            day = window[0].strftime("%Y-%m-%d")
            meta = {
                "cluster": cluster,
                "window": window,
                "sacct_version": sacct_version,
                "fields": fields,
                "source": output.source,
            }
            for name, snapshot in snapshots.items():
                meta[name] = snapshot if window[0].date() >= recent else None
            meta["capacity"] = window_capacity(runner, config, cluster, window, capacity_state)  # every day
            argv = build_sacct_argv(sacct, fields, window[0], window[1], cluster)
            LOG.debug("running %s", " ".join(argv))
            drop = extract_drop(runner, argv, config.sacct_timeout, output.folder(day), meta, now)
            _warn_if_empty(drop, window, cluster, day)
            drop = output.store(drop, day)
            LOG.info(
                "%s: %d rows, window %s .. %s",
                drop.label,
                drop.manifest["rows"],
                drop.manifest["window_start"],
                drop.manifest["window_end"],
            )
            if follow_watermark:
                state.save_watermark(cluster, window[1])
            output.deliver(drop)
        output.finish()
    return EXIT_OK


def _configure(args: argparse.Namespace) -> "Tuple[Config, str, Optional[str]]":
    """The config, the output mode (dry-run, stdout, drop, push) and the drop folder; bad combinations refused."""
    if sum(bool(x) for x in (args.dry_run, args.output_dir, args.stdout)) > 1:
        raise AgentError("choose one of --dry-run, --output-dir, --stdout", EXIT_USAGE)
    if args.json and not args.dry_run:
        raise AgentError("--json goes with --dry-run", EXIT_USAGE)
    config = Config({}) if args.no_config else load_config(args.config)
    if args.no_config:
        config.spool_dir = config.state_file = None
    output_dir = args.output_dir or (None if args.stdout or args.dry_run else config.output_dir)
    mode = "dry-run" if args.dry_run else "stdout" if args.stdout else "drop" if output_dir else "push"
    return config, mode, output_dir


def _push_key(config: "Config", args: argparse.Namespace) -> str:
    """The API key for push mode, after checking the URL (https, or http to this host only) and the spool."""
    if not config.api_url:
        raise AgentError(
            f"no api_url in {args.config}: set api_url to push, or use --output-dir DIR / --stdout / --dry-run",
            EXIT_USAGE,
        )
    if not config.api_url.lower().startswith(("https://", "http://")):
        raise AgentError(f"api_url {config.api_url!r} must start with https://", EXIT_USAGE)
    if (
        config.api_url.lower().startswith("http://")
        and not config.allow_insecure_http
        and not is_local_url(config.api_url)
    ):
        raise AgentError(
            f"api_url {config.api_url} is plain http: the API key would cross the network in clear text; use "
            "https:// or set allow_insecure_http to true",
            EXIT_USAGE,
        )
    api_key = resolve_api_key(config)
    if not api_key or api_key == PLACEHOLDER_KEY:
        raise AgentError(f"no API key: set api_key or api_key_file in {args.config} or env {API_KEY_ENV}", EXIT_USAGE)
    if not config.spool_dir:
        raise AgentError("push mode needs spool_dir (undelivered drops wait there)", EXIT_USAGE)
    return api_key


def _resolve_cluster(args: argparse.Namespace, config: "Config", runner: Runner) -> str:
    """--cluster, else cluster_name, else scontrol's ClusterName; checked."""
    cluster = args.cluster or config.cluster_name
    if not cluster:
        try:
            cluster = parse_cluster_name(run_text(runner, [config.scontrol_path, "show", "config"], 60))
        except CommandError as err:
            raise AgentError(f"cannot learn the cluster name ({err}); set cluster_name or --cluster", EXIT_USAGE)
        if not cluster:
            raise AgentError("scontrol show config prints no ClusterName; set cluster_name or --cluster", EXIT_USAGE)
    check_cluster_name(cluster)
    return cluster


def _lock_path(mode: str, config: "Config", args: argparse.Namespace) -> Optional[str]:
    """One run at a time per spool (push) or state file (scheduled runs); explicit ranges and dry runs lock nothing."""
    if mode == "push":
        return os.path.join(config.spool_dir, ".lock")
    if mode != "dry-run" and config.state_file and not args.start_date:
        return config.state_file + ".lock"
    return None


def _dry_run(
    args: argparse.Namespace,
    runner: Runner,
    timeout: float,
    sacct: str,
    fields: List[str],
    cluster: str,
    windows: "List[Tuple[dt.datetime, dt.datetime]]",
    stdout: IO[bytes],
) -> int:
    """Summarize the whole period from one sacct call; ship nothing."""
    window = (windows[0][0], windows[-1][1])
    argv = build_sacct_argv(sacct, fields, window[0], window[1], cluster)
    LOG.debug("running %s", " ".join(argv))
    summary = UsageSummary()
    for chunk in runner(argv, timeout):
        summary.feed(chunk)
    summary.close()
    if summary.malformed:
        LOG.warning(
            "%d sacct line(s) had fewer fields than the header (a job name with a newline?) and were not counted",
            summary.malformed,
        )
    if summary.jobs == 0:
        LOG.warning(
            "sacct returned 0 jobs for cluster %s in this period; check cluster_name "
            "(sacct --clusters %s) and that this user may see all jobs",
            cluster,
            cluster,
        )
    print_summary(summary, cluster, window, args.json, _TextOut(stdout))
    LOG.info("dry run: nothing was shipped")
    return EXIT_OK


def _snapshots(config: "Config", runner: Runner, cluster: str, now: Callable[[], dt.datetime]) -> Dict[str, Any]:
    """This run's node inventory and associations (None where not collected), for the recent windows' manifests."""
    inventory = None
    if config.collect_inventory:
        try:
            inventory = parse_node_inventory(
                run_text(runner, [config.scontrol_path, "show", "node", "--oneliner"], 120), now()
            )
            LOG.info("inventory: %d node(s)", len(inventory["nodes"]))
        except CommandError as err:
            LOG.warning("no capacity snapshot this run: %s", err)
    associations = None
    if config.collect_associations:
        associations = collect_associations(runner, config.sacctmgr_path, cluster, now)
    return {"inventory": inventory, "associations": associations}


def _warn_if_empty(drop: "Drop", window: "Tuple[dt.datetime, dt.datetime]", cluster: str, day: str) -> None:
    if drop.manifest["rows"] == 0 and window[1] - window[0] >= dt.timedelta(days=1):
        LOG.warning(
            "%s %s: sacct returned 0 jobs for the whole day; wrong cluster_name (sacct --clusters "
            "%s) or no access to other users' jobs?",
            cluster,
            day,
            cluster,
        )


class _Output:
    """Where a run's drops go: one subclass per output mode."""

    source = ""

    def folder(self, day: str) -> str:
        return tempfile.gettempdir()

    def store(self, drop: "Drop", day: str) -> "Drop":
        return drop

    def deliver(self, drop: "Drop") -> None:
        pass

    def finish(self) -> None:
        pass


class _StdoutOutput(_Output):
    """--stdout (SSH pull): each drop streamed, nothing kept."""

    source = "ssh"

    def __init__(self, stdout: IO[bytes]) -> None:
        self.stdout = stdout

    def store(self, drop: "Drop", day: str) -> "Drop":
        try:
            write_stream(drop, self.stdout)
        finally:
            os.unlink(drop.data_path)
        return drop


class _DropOutput(_Output):
    """--output-dir / output_dir: the landing layout <dir>/<cluster>/<day>/<drop id>."""

    source = "drop"

    def __init__(self, output_dir: str, cluster: str) -> None:
        self.output_dir, self.cluster = output_dir, cluster

    def folder(self, day: str) -> str:
        return os.path.join(self.output_dir, self.cluster, day)

    def store(self, drop: "Drop", day: str) -> "Drop":
        return publish_drop(drop, self.folder(day), drop.drop_id)


class _PushOutput(_Output):
    """Push: drops wait in the spool until the receiver has them; the spool's older drops go first."""

    source = "push"

    def __init__(self, config: "Config", cluster: str, api_key: Optional[str], sleep: Callable[[float], None]) -> None:
        self.spool_dir, self.cluster = config.spool_dir, cluster
        self.pending_error = None  # type: Optional[DeliveryError]
        self.rejected = None  # type: Optional[DeliveryError]
        remove_stale_temps(self.spool_dir)
        self.pusher = Pusher(config, api_key, sleep, random.Random())
        try:
            self.pusher.health()
            for drop in spooled_drops(self.spool_dir):
                LOG.info("sending spooled %s", drop.label)
                self.rejected = _deliver(self.pusher, drop, self.spool_dir) or self.rejected
        except DeliveryError as err:
            self.pending_error = err
            LOG.error("%s", err)
            LOG.warning("drops will be kept in %s and sent first on the next run", self.spool_dir)

    def folder(self, day: str) -> str:
        return self.spool_dir

    def store(self, drop: "Drop", day: str) -> "Drop":
        # The flat spool adds cluster and day to the id: two empty days have the same text and id.
        return publish_drop(drop, self.spool_dir, f"{self.cluster}.{day}.{drop.drop_id}")

    def deliver(self, drop: "Drop") -> None:
        if self.pending_error is not None:
            return
        try:
            self.rejected = _deliver(self.pusher, drop, self.spool_dir) or self.rejected
        except DeliveryError as err:
            self.pending_error = err
            LOG.error("%s", err)
            LOG.warning("%s and later drops stay in %s for the next run", drop.label, self.spool_dir)

    def finish(self) -> None:
        if self.pending_error is not None:
            waiting = len(spooled_drops(self.spool_dir))
            raise AgentError(
                f"delivery failed; {waiting} drop(s) wait in {self.spool_dir}: {self.pending_error}", EXIT_PUSH
            )
        if self.rejected is not None:
            raise AgentError(f"the server refused a drop for good: {self.rejected}", EXIT_PUSH)


def _deliver(pusher: Pusher, drop: Drop, spool_dir: str) -> Optional[DeliveryError]:
    """Push one spooled drop and remove it from the spool once the server has it.

    A drop refused for good (413/422) moves to spool_dir/rejected/ and is returned
    as an error, so later drops still go out; other failures raise.
    """
    try:
        answer = pusher.push(drop)
    except DeliveryError as err:
        if err.status in (413, 422):
            folder = reject_spooled(drop, spool_dir)
            LOG.error("%s; moved to %s (move it back to %s to retry)", err, folder, spool_dir)
            return err
        raise
    LOG.info("delivered %s (%s)", drop.label, "already on the server" if answer.get("duplicate") else "new")
    remove_spooled(drop)
    return None


class _TextOut:
    """Text on top of a binary stream (stdout may be a test's BytesIO)."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw

    def write(self, text: str) -> None:
        self.raw.write(text.encode("utf-8"))
        self.raw.flush()


if __name__ == "__main__":
    sys.exit(main())
