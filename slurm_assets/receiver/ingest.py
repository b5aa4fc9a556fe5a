"""Ingest bodies into the landing zone: spool, verify against the manifest, store once.

Native drop (``application/x-slurm-usage-drop``, docs/DROP_FORMAT.md): the body is
spooled to ``DATA_DIR/landing/.incoming/`` while its bytes are counted (never held
in memory), then the manifest line is validated, the key's cluster binding checked,
the gzip stream-decompressed with a bounded digest (a gzip bomb stops at
``max_text_bytes``) and compared with the manifest's ``gzip_size``, ``sha256`` and
``rows``, and only then stored with ``storage.landing.store_drop``.

Seed JSON (``application/json``): read into memory up to ``max_json_bytes``, turned
into one sacct text per UTC day (``receiver/seed_json.py``), one drop per day with
source ``json``.

Every failure is an ``IngestError`` with the HTTP status and a message saying what
is wrong and where; storage failures map to 507 (disk full) or 503 (not writable),
never 500.
"""

import datetime as dt
import errno
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from slurm_assets import settings
from slurm_assets.receiver import auth, seed_json
from slurm_assets.receiver.auth import KeyMatch
from slurm_assets.settings import ReceiverSettings
from slurm_assets.storage import fs, landing, paths, text_drops
from slurm_assets.storage.atomic import STALE_AFTER_S

log = logging.getLogger(__name__)

INCOMING_DIR = ".incoming"  # under landing/; never a cluster name (those start with a letter or digit)
# After a body went over the limit, read (and discard) at most this much more before answering 413,
# so an ordinary client reads the 413 instead of a connection reset.
DRAIN_BYTES = 64 * 1024 * 1024
JSON_AGENT_VERSION = "receiver-seed-json"
NATIVE_TYPE = "application/x-slurm-usage-drop"
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Runtime:
    """What a running app was configured with (read once, at startup)."""

    settings: ReceiverSettings
    keys: tuple[auth.KeyEntry, ...]
    data_dir: Path


class IngestError(Exception):
    """A request the receiver refuses: HTTP ``status`` and a ``detail`` for the client."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class StoredDrop:
    day: str
    drop_id: str
    rows: int
    duplicate: bool


@dataclass
class Audit:
    """What the audit log line reports about one request (filled in as the request is understood)."""

    key_id: str = "-"
    cluster: str = "-"
    rows: int | None = None
    drops: list[StoredDrop] = field(default_factory=list)


def storage_error(err: OSError, where: str) -> IngestError:
    """Map a storage OSError to 507 (no space) or 503 (not writable / unavailable), naming the place."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return IngestError(507, f"{where}: no space left on the data volume; free space, then resend")
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return IngestError(
            503,
            f"{where}: data dir is not writable ({errno.errorcode.get(err.errno)}); resend later",
        )
    if err.errno is None:  # object storage (storage/fs.py): the cause is for the operator's log, not the client
        log.warning("%s: storage error: %s", where, err)
        return IngestError(503, f"{where}: storage unavailable; resend later")
    return IngestError(
        503,
        f"{where}: storage error ({errno.errorcode.get(err.errno or 0, err.errno)}); resend later",
    )


def incoming_dir(data_dir: Path) -> Path:
    """Where bodies are spooled: ``landing/.incoming`` (renamed into place), or local temp for an ``s3://`` root
    (uploaded from there; ``$TMPDIR`` chooses the disk)."""
    if fs.is_remote(data_dir):
        return Path(tempfile.gettempdir()) / "slurm-usage-incoming"
    return paths.landing_root(data_dir) / INCOMING_DIR


def sweep_incoming(data_dir: Path, older_than_s: float = STALE_AFTER_S) -> int:
    """Remove spooled bodies left by a crashed receiver (older than ``older_than_s``); return how many.

    Only old files go: another receiver process may share the landing zone and be
    receiving right now.
    """
    folder = incoming_dir(data_dir)
    if not folder.is_dir():
        return 0
    removed = 0
    cutoff = time.time() - older_than_s
    for part in folder.glob("upload-*.part"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


async def drain(chunks: AsyncIterator[bytes], budget: int = DRAIN_BYTES) -> None:
    """Read and discard up to ``budget`` bytes of a body the receiver will refuse."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > budget:
            return


async def spool_body(chunks: AsyncIterator[bytes], data_dir: Path, limit: int) -> tuple[bytes, Path]:
    """Spool the body to a temp file in ``landing/.incoming/``; 413 (after draining) past ``limit`` bytes.

    Returns ``(head, spool)``: ``head`` is the manifest line as ``read_manifest_line`` would read
    it (up to the first newline, at most ``MAX_MANIFEST_BYTES + 1`` bytes, kept in memory), the
    spool file holds the rest of the body (the gzip data), so a verified drop's data file is the
    spool file itself, fsynced and renamed into place (``landing.store_drop_file``), not a copy.
    """
    folder = incoming_dir(data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=folder)
    except OSError as err:
        raise storage_error(err, "landing/.incoming") from err
    size = 0
    head = bytearray()
    head_max = landing.MAX_MANIFEST_BYTES + 1
    in_head = True
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    break
                if in_head:
                    end = chunk.find(b"\n", 0, head_max - len(head))
                    take = end + 1 if end >= 0 else head_max - len(head)
                    head += chunk[:take]
                    chunk = chunk[take:]
                    in_head = end < 0 and len(head) < head_max
                fh.write(chunk)
    except OSError as err:
        os.unlink(name)
        raise storage_error(err, "landing/.incoming") from err
    except BaseException:
        os.unlink(name)
        raise
    if size > limit:
        os.unlink(name)
        await drain(chunks)
        raise IngestError(
            413,
            f"body is over the limit of {limit} bytes (SLURM_USAGE_MAX_BODY_BYTES); "
            "send one drop (one day) per request",
        )
    return bytes(head), Path(name)


def _check_cluster(key: KeyMatch, cluster: str) -> None:
    if not key.allows(cluster):
        raise IngestError(403, f"API key {key.key_id} is not allowed to post for cluster {cluster!r}")


def _check_first_day(days: list[str], where: str) -> None:
    """422 naming SLURM_USAGE_FIRST_DAY for a drop (or any day of a JSON body) before the first day."""
    try:
        settings.check_not_before_first_day(days, where)
    except settings.FirstDayError as err:
        raise IngestError(422, f"{err}; the receiver's operator sets it") from err


def ingest_native(
    head: bytes, spool: Path, data_dir: Path, max_text_bytes: int, key: KeyMatch, audit: Audit
) -> list[StoredDrop]:
    """Verify and store the one drop of a spooled native body (``head`` = manifest line, ``spool`` = the rest)."""
    try:
        manifest = landing.read_manifest_line(io.BytesIO(head))
    except landing.DropFormatError as err:
        raise IngestError(422, f"line 1 (manifest): {err}") from err
    if manifest is None:
        raise IngestError(
            422,
            "empty body: expected a manifest line and the gzip data (docs/DROP_FORMAT.md)",
        )
    cluster, day = manifest["cluster"], manifest["day"]
    audit.cluster = cluster
    _check_cluster(key, cluster)
    where = f"drop {cluster} {day}"
    _check_first_day([day], where)
    with open(spool, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size != manifest["gzip_size"]:
            hint = "send one drop per request" if size > manifest["gzip_size"] else "truncated upload?"
            raise IngestError(
                422,
                f"{where}: manifest gzip_size is {manifest['gzip_size']} but the body carries "
                f"{size} bytes after the manifest line ({hint})",
            )
        try:
            digest = landing.digest_gzip_text(fh, max_text_bytes)
        except landing.DropTooLargeError as err:
            raise IngestError(413, f"{where}: {err} (SLURM_USAGE_MAX_TEXT_BYTES)") from err
        except landing.DropFormatError as err:
            raise IngestError(422, f"{where}: {err}") from err
    if digest.sha256 != manifest["sha256"]:
        raise IngestError(
            422,
            f"{where}: sha256 of the decompressed data is {digest.sha256}, manifest says "
            f"{manifest['sha256']} (corrupted in transit? resend)",
        )
    if digest.rows != manifest["rows"]:
        raise IngestError(
            422,
            f"{where}: the data has {digest.rows} rows after the header, manifest says {manifest['rows']}",
        )
    audit.rows = digest.rows
    stored = dict(manifest, received_at=_utc_now(), received_key_id=key.key_id)
    try:
        drop_id, duplicate = landing.store_drop_file(data_dir, stored, spool)
    except OSError as err:
        raise storage_error(err, f"landing/{cluster}/{day}") from err
    result = StoredDrop(day, drop_id, digest.rows, duplicate)
    audit.drops.append(result)
    return [result]


def ingest_json(body: bytes, data_dir: Path, key: KeyMatch, audit: Audit) -> list[StoredDrop]:
    """Split a seed JSON body into per-day drops (source ``json``) and store them."""
    try:
        decoded = json.loads(body)
    except json.JSONDecodeError as err:
        raise IngestError(422, f"body is not JSON: {err.msg} at line {err.lineno} column {err.colno}") from err
    except (UnicodeDecodeError, RecursionError) as err:
        raise IngestError(422, f"body is not UTF-8 JSON of sane nesting depth ({err})") from err
    try:
        audit.cluster = seed_json.seed_cluster(decoded)
        _check_cluster(key, audit.cluster)
        parsed = seed_json.parse_seed_body(decoded)
    except seed_json.SeedJsonError as err:
        raise IngestError(422, str(err)) from err
    audit.rows = sum(d.rows for d in parsed.days)
    _check_first_day([d.day for d in parsed.days], f"{parsed.cluster} JSON body")
    now = _utc_now()
    for part in parsed.days:
        try:
            drop_id, duplicate, _rows = text_drops.store_text_drop(
                data_dir,
                parsed.cluster,
                part.day,
                part.text,
                source="json",
                agent_version=JSON_AGENT_VERSION,
                sacct_version="unknown (seed JSON body)",
                collected_at=now,
                extra={"received_at": now, "received_key_id": key.key_id},
            )
        except landing.DropFormatError as err:  # e.g. more fields than a manifest may list
            raise IngestError(422, f"{parsed.cluster} {part.day}: {err}") from err
        except OSError as err:
            raise storage_error(err, f"landing/{parsed.cluster}/{part.day}") from err
        audit.drops.append(StoredDrop(part.day, drop_id, part.rows, duplicate))
    return audit.drops


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _content_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _read_limited(chunks, limit: int) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            await drain(chunks)
            raise IngestError(
                413,
                f"JSON body is over the limit of {limit} bytes (SLURM_USAGE_MAX_JSON_BYTES); "
                "split it, or use the agent's native drops",
            )
    return bytes(body)


async def handle_ingest(request: Request, presented_key: str | None, rt: Runtime, audit: Audit) -> list[StoredDrop]:
    """The whole ingest of one request: key, content type, size limits, then the native or JSON path."""
    chunks = request.stream()
    match = auth.check_key(rt.keys, presented_key)
    if match is None:
        await drain(chunks)
        if not rt.keys:
            raise IngestError(
                401,
                "the receiver has no API keys configured (set API_KEYS on the server)",
            )
        if not presented_key:
            raise IngestError(401, "missing X-API-Key header")
        raise IngestError(401, f"unknown API key (id {auth.key_id(presented_key)})")
    audit.key_id = match.key_id
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (NATIVE_TYPE, JSON_TYPE):
        await drain(chunks)
        raise IngestError(
            415,
            f"Content-Type {media_type or '(none)'!r} is not {NATIVE_TYPE} or {JSON_TYPE}",
        )
    s = rt.settings
    limit = s.max_json_bytes if media_type == JSON_TYPE else s.max_body_bytes
    declared = _content_length(request)
    if declared is not None and declared > limit + DRAIN_BYTES:
        raise IngestError(413, f"Content-Length {declared} is over the limit of {limit} bytes")
    if media_type == JSON_TYPE:
        body = await _read_limited(chunks, limit)
        try:
            return await run_in_threadpool(ingest_json, body, rt.data_dir, match, audit)
        except OSError as err:  # any other I/O failure is still an answer, not a 500
            raise storage_error(err, "landing") from err
    head, spool = await spool_body(chunks, rt.data_dir, limit)
    try:
        return await run_in_threadpool(ingest_native, head, spool, rt.data_dir, s.max_text_bytes, match, audit)
    except OSError as err:
        raise storage_error(err, "landing") from err
    finally:
        try:
            spool.unlink(missing_ok=True)  # gone already when it became the stored data file
        except OSError:
            pass  # a read-only remount after spooling; sweep_incoming removes it later
