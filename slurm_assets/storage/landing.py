"""The landing zone: raw drops as the agent ships them, stored once, listed for the pipeline.

A drop (docs/DROP_FORMAT.md) is gzip-compressed ``sacct --parsable2`` text plus a
JSON manifest. Push (receiver), drop mode (``agent --output-dir``) and SSH pull
all end here in the same layout; the manifest is written last, so a drop
without a manifest is incomplete and is ignored by readers.
"""

import datetime as dt
import fcntl
import gzip
import hashlib
import json
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from isal import isal_zlib

from slurm_assets.storage import manifest_check, paths
from slurm_assets.storage.atomic import STALE_AFTER_S, fsync_dir, sweep_temp_files

DROP_FORMAT = "slurm-usage-drop/2"  # what this version writes; /2 = /1 + the optional ``associations`` section
DROP_FORMATS = ("slurm-usage-drop/1", DROP_FORMAT)  # what it reads: old agents' drops still process
DATA_SUFFIX = ".psv.gz"
MANIFEST_SUFFIX = ".manifest.json"
MAX_MANIFEST_BYTES = 8 * 1024 * 1024

# key -> accepted types; everything else in a manifest is kept as-is.
MANIFEST_FIELDS: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "cluster": (str,),
    "day": (str,),
    "window_start": (str,),
    "window_end": (str,),
    "collected_at": (str,),
    "sacct_version": (str,),
    "fields": (list,),
    "rows": (int,),
    "sha256": (str,),
    "gzip_size": (int,),
    "agent_version": (str,),
    "source": (str,),
}
SOURCES = ("push", "drop", "ssh", "json")


class DropFormatError(ValueError):
    """A drop or manifest that does not follow docs/DROP_FORMAT.md; the message says what to fix."""


class DropTooLargeError(DropFormatError):
    """A drop whose decompressed text is over the configured limit (a gzip bomb, or a limit set too low)."""


@dataclass(frozen=True)
class DropRef:
    """A complete drop in the landing zone."""

    cluster: str
    day: str
    drop_id: str
    data_path: Path
    manifest_path: Path

    def manifest(self) -> dict:
        return json.loads(self.manifest_path.read_text())


@dataclass(frozen=True)
class TextDigest:
    """What streaming through a drop's decompressed text found."""

    sha256: str
    rows: int
    size: int
    header: str


def drop_id_for(sha256: str) -> str:
    """A drop's id: the first 16 hex digits of the sha256 of its uncompressed text."""
    return sha256[:16]


def validate_manifest(manifest: object) -> dict:
    """Return the manifest if it is well formed; raise DropFormatError naming the bad key."""
    if not isinstance(manifest, dict):
        raise DropFormatError("manifest must be a JSON object")
    for key, types in MANIFEST_FIELDS.items():
        if key not in manifest:
            raise DropFormatError(f"manifest lacks {key!r}; upgrade the agent (format {DROP_FORMAT})")
        value = manifest[key]
        if not isinstance(value, types) or (int in types and isinstance(value, bool)):
            raise DropFormatError(f"manifest key {key!r} has type {type(value).__name__}, expected {types[0].__name__}")
    if manifest["format"] not in DROP_FORMATS:
        raise DropFormatError(f"manifest format {manifest['format']!r} is not one of {', '.join(DROP_FORMATS)}"
                              "; upgrade the server or use a matching agent")
    try:
        paths.check_cluster_name(manifest["cluster"])
        paths.check_day(manifest["day"])
    except paths.InvalidNameError as err:
        raise DropFormatError(f"manifest: {err}") from err
    sha = manifest["sha256"]
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise DropFormatError("manifest sha256 must be 64 lowercase hex digits")
    if manifest["source"] not in SOURCES:
        raise DropFormatError(f"manifest source {manifest['source']!r} not one of {', '.join(SOURCES)}")
    if manifest["rows"] < 0 or manifest["gzip_size"] < 0:
        raise DropFormatError("manifest rows and gzip_size must be >= 0")
    if not all(isinstance(f, str) for f in manifest["fields"]):
        raise DropFormatError("manifest fields must be a list of sacct field names")
    try:  # the rest of the format, inventory included (types, physical ranges, UTC times)
        manifest_check.check_manifest_details(manifest)
    except manifest_check.ManifestFieldError as err:
        raise DropFormatError(f"manifest field {err}") from err
    return manifest


def digest_gzip_text(gz: BinaryIO, max_text_bytes: int) -> TextDigest:
    """Stream-decompress ``gz``: sha256, data rows (lines after the header) and size of the text.

    Raises DropFormatError for corrupt gzip or text larger than ``max_text_bytes``
    (a gzip bomb never gets further than that limit in memory or time).

    Decompression uses ISA-L (``isal``, ~2.5x faster than zlib); whenever it fails in any way
    (corrupt or truncated data, over the limit) the stream is checked again from the start with
    zlib, so every refusal and its message are zlib's, as readers (``gzip``) decode with zlib.
    ISA-L accepts reserved gzip header flags that zlib refuses: those members go to zlib too.
    """
    start = gz.tell() if gz.seekable() else None
    if start is not None:
        try:
            return _digest(gz, max_text_bytes, isal_zlib, fast=True)
        except Exception:  # noqa: BLE001 - any failure: let zlib decide (and word the refusal)
            gz.seek(start)
    return _digest(gz, max_text_bytes, zlib, fast=False)


# Read and decompress in 256 KiB steps: with 1 MiB steps every output buffer was fresh memory from
# the kernel (~240k page faults per GB of text, +16% CPU for the whole digest; bench/README.md item 8).
_READ_BYTES = 256 * 1024
_STEP_BYTES = 256 * 1024


class _UseZlib(Exception):
    """A member header ISA-L would judge differently from zlib: decide with zlib."""


def _digest(gz: BinaryIO, max_text_bytes: int, module, fast: bool) -> TextDigest:
    sha = hashlib.sha256()
    decomp = None
    size = lines = 0
    header = b""
    in_header = True
    while True:
        chunk = gz.read(_READ_BYTES)
        if not chunk:
            break
        while True:
            if decomp is None or decomp.eof:
                # A new gzip member (concatenated members are valid gzip). FLG's top 3 bits are reserved.
                if fast and (len(chunk) < 4 or chunk[3] & 0xE0):
                    raise _UseZlib
                decomp = module.decompressobj(wbits=16 + zlib.MAX_WBITS)
            # At most _STEP_BYTES of output per call: memory stays bounded whatever the limit (a bomb
            # with a 2 GiB limit must not allocate 2 GiB at once).
            cap = min(_STEP_BYTES, max_text_bytes + 1 - size)
            try:
                out = decomp.decompress(chunk, cap)
            except module.error as err:
                raise DropFormatError(f"drop data is not valid gzip ({err})") from err
            size += len(out)
            if size > max_text_bytes:
                raise DropTooLargeError(f"decompressed drop exceeds the limit of {max_text_bytes} bytes")
            sha.update(out)
            lines += int(np.count_nonzero(np.frombuffer(out, np.uint8) == 10))  # 3x bytes.count, GIL released
            if in_header:
                header += out[: 65537 - len(header)]
                if b"\n" in header or len(header) > 65536:
                    header = header.split(b"\n", 1)[0]
                    in_header = False
            if decomp.eof:
                chunk = decomp.unused_data
                if not chunk:
                    break
            else:
                chunk = decomp.unconsumed_tail
                if not chunk and len(out) < cap:
                    break  # input used up and no output pending: read more
    eof = decomp is not None and decomp.eof
    if not eof and size == 0:
        raise DropFormatError("drop data is not valid gzip")
    if not eof:
        raise DropFormatError("drop data is truncated gzip")
    rows = max(lines - 1, 0) if size else 0
    return TextDigest(sha.hexdigest(), rows, size, header.decode("utf-8", "replace").rstrip("\r"))


@contextmanager
def _cluster_lock(data_dir: Path, cluster: str) -> Iterator[None]:
    lock_dir = paths.landing_root(data_dir) / paths.check_cluster_name(cluster)
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / ".lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def drop_paths(data_dir: Path, cluster: str, day: str, drop_id: str) -> tuple[Path, Path]:
    folder = paths.landing_day_dir(data_dir, cluster, day)
    return folder / f"{drop_id}{DATA_SUFFIX}", folder / f"{drop_id}{MANIFEST_SUFFIX}"


def _is_stored(data_path: Path, manifest_path: Path) -> bool:
    # Both files: a manifest whose data file is missing (power loss between the two renames) is not a
    # stored drop; list_drops skips it and the next copy of the drop rewrites both. A stored manifest
    # that is unusable (written by an older receiver or a file transfer; the pipeline quarantined the
    # drop) is not a stored drop either: a corrected copy replaces both files.
    if not (manifest_path.exists() and data_path.exists()):
        return False
    cluster, day = manifest_path.parent.parent.name, manifest_path.parent.name
    return not read_stored_manifest(manifest_path, cluster, day)[1]


def read_stored_manifest(manifest_path: Path, cluster: str, day: str) -> tuple[dict, str]:
    """``(manifest, "")`` for a landed manifest that follows docs/DROP_FORMAT.md and names its folder's cluster and
    day; ``({}, "why not")`` otherwise (unreadable, over MAX_MANIFEST_BYTES, not JSON, out of range)."""
    try:
        if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
            raise DropFormatError(f"manifest file is over {MAX_MANIFEST_BYTES} bytes")
        try:
            loaded = json.loads(manifest_path.read_bytes())
        except json.JSONDecodeError as err:
            raise DropFormatError(f"manifest is not JSON ({err.msg} at line {err.lineno} column {err.colno})") from err
        except UnicodeDecodeError as err:
            raise DropFormatError(f"manifest is not UTF-8 ({err.reason} at byte {err.start})") from err
        manifest = validate_manifest(loaded)
        for key, folder in (("cluster", cluster), ("day", day)):
            if manifest[key] != folder:
                raise DropFormatError(f"manifest {key} {manifest[key]!r} is not its folder's {folder!r}")
    except (OSError, ValueError, RecursionError) as err:  # JSONDecodeError and DropFormatError are ValueErrors
        return {}, str(err)
    return manifest, ""


def _prepare(data_dir: Path, manifest: dict) -> tuple[dict, Path, tuple[str, bool] | None]:
    """The validated manifest, its data file's path, and the duplicate answer if the drop is stored already."""
    manifest = validate_manifest(manifest)
    data_path, manifest_path = drop_paths(
        data_dir, manifest["cluster"], manifest["day"], drop_id_for(manifest["sha256"])
    )
    return manifest, data_path, _already_stored(data_path) if _is_stored(data_path, manifest_path) else None


def store_drop(data_dir: Path, manifest: dict, gz_source: BinaryIO | bytes | Path) -> tuple[str, bool]:
    """Store a verified drop atomically and durably; return ``(drop_id, duplicate)``.

    The caller has checked the data against the manifest (``digest_gzip_text``).
    The same drop (same cluster, day and sha256) is stored once; a second copy
    answers ``duplicate=True`` and writes nothing.
    """
    manifest, data_path, stored = _prepare(data_dir, manifest)
    if stored is not None:
        return stored
    new_parents = _make_day_dir(data_path.parent)
    fd, tmp = _temp_beside(data_path)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(gz_source, bytes):
                out.write(gz_source)
            elif isinstance(gz_source, Path):
                with open(gz_source, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            else:
                shutil.copyfileobj(gz_source, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        return _commit_drop(data_dir, manifest, Path(tmp), new_parents)
    finally:
        Path(tmp).unlink(missing_ok=True)


def store_drop_file(data_dir: Path, manifest: dict, gz_file: Path) -> tuple[str, bool]:
    """Like ``store_drop``, but *move* ``gz_file`` (the gzip data, on the landing zone's file system) into place.

    For the receiver's spooled bodies: the spool file is fsynced and renamed, not copied.
    On a duplicate ``gz_file`` is left where it is (the caller removes it).
    """
    manifest, data_path, stored = _prepare(data_dir, manifest)
    if stored is not None:
        return stored
    new_parents = _make_day_dir(data_path.parent)
    if os.stat(gz_file).st_dev != os.stat(data_path.parent).st_dev:  # landing/<cluster> mounted apart: copy
        stored = store_drop(data_dir, manifest, gz_file)
        for folder in new_parents:
            fsync_dir(folder)
        return stored
    fd = os.open(gz_file, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return _commit_drop(data_dir, manifest, gz_file, new_parents)


def _temp_beside(target: Path) -> tuple[int, str]:
    """A new temp file in ``target``'s (existing) folder, hidden and not matching the landing globs."""
    return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)


def _make_day_dir(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the folders whose entries must be fsynced.

    The caller fsyncs them after its files (``_commit_drop``): by then the journal holds the
    new folders already, so these fsyncs are cheap instead of one extra commit per new day.
    A folder made at the same time by another writer is fsynced too (its answer may come later).
    """
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            pass
    return [d.parent for d in reversed(missing)]


def _already_stored(data_path: Path) -> tuple[str, bool]:
    # Both files are there, so the renames were made (under the lock, data first); fsync the folder
    # anyway: the first copy's renames may not be on disk yet when this copy answers.
    fsync_dir(data_path.parent)
    return data_path.name[: -len(DATA_SUFFIX)], True


def _commit_drop(data_dir: Path, manifest: dict, fsynced_data: Path, new_parents: list[Path]) -> tuple[str, bool]:
    """Rename the fsynced data file, then the manifest, into place under the cluster lock; fsync the folder.

    The slow parts (writing and fsyncing both files) happen before the lock, so concurrent
    stores of one cluster overlap their fsyncs; the lock covers only the duplicate check and
    the two renames (data first: a manifest never names a missing data file).
    """
    drop_id = drop_id_for(manifest["sha256"])
    data_path, manifest_path = drop_paths(data_dir, manifest["cluster"], manifest["day"], drop_id)
    fd, tmp_manifest = _temp_beside(manifest_path)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(json.dumps(manifest, sort_keys=True, indent=1).encode() + b"\n")
            out.flush()
            os.fsync(out.fileno())
        with _cluster_lock(data_dir, manifest["cluster"]):
            duplicate = _is_stored(data_path, manifest_path)
            if not duplicate:
                os.replace(fsynced_data, data_path)
                os.replace(tmp_manifest, manifest_path)
    finally:
        Path(tmp_manifest).unlink(missing_ok=True)
    # Also for a duplicate: the first copy's renames may not be on disk yet when this one answers.
    fsync_dir(data_path.parent)
    for folder in new_parents:  # the parents of folders this store created (a new day, a new cluster)
        fsync_dir(folder)
    return drop_id, duplicate


def _is_cluster_name(name: str) -> bool:
    try:
        paths.check_cluster_name(name)
    except paths.InvalidNameError:
        return False
    return True


def sweep_stale(data_dir: Path, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove what killed writers left in the landing day folders; return the removed files.

    Temp files (``.<name>.*.tmp``, the agent's ``.tmp-*``) and data files without a
    manifest (a store killed between its two renames: never listed, never acknowledged
    to the client, stored again when resent), each only when older than
    ``older_than_s``. Orphans are removed under the cluster lock, so a store in
    progress (which renames data then manifest under that lock) is never cut in two.
    ``landing/.incoming`` is the receiver's (``receiver.ingest.sweep_incoming``).
    """
    root = paths.landing_root(data_dir)
    removed: list[Path] = []
    cutoff = time.time() - older_than_s
    for cluster_dir in sorted(root.iterdir()) if root.is_dir() else []:
        if not cluster_dir.is_dir() or not _is_cluster_name(cluster_dir.name):
            continue  # .incoming, or a folder no writer of ours made
        for day_dir in sorted(p for p in cluster_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            removed += sweep_temp_files(day_dir, older_than_s)
            pairs = [(p, p.with_name(p.name[: -len(DATA_SUFFIX)] + MANIFEST_SUFFIX))
                     for p in day_dir.glob(f"*{DATA_SUFFIX}")]
            orphans = [(data_path, manifest_path) for data_path, manifest_path in pairs if not manifest_path.exists()]
            if not orphans:
                continue
            with _cluster_lock(data_dir, cluster_dir.name):
                for data_path, manifest_path in orphans:
                    try:
                        if not manifest_path.exists() and data_path.stat().st_mtime < cutoff:
                            data_path.unlink()
                            removed.append(data_path)
                    except FileNotFoundError:
                        continue
    return removed


def list_drops(data_dir: Path, day: str | None = None) -> list[DropRef]:
    """Every complete drop (manifest present), sorted by cluster, day and id; junk names are skipped.

    ``day`` restricts the listing to that landing day (one partition's drops).
    """
    root = paths.landing_root(data_dir)
    found: list[DropRef] = []
    if not root.is_dir():
        return found
    day_glob = paths.check_day(day) if day is not None else "*"
    for manifest_path in root.glob(f"*/{day_glob}/*{MANIFEST_SUFFIX}"):
        day_dir = manifest_path.parent
        cluster, day = day_dir.parent.name, day_dir.name
        try:
            paths.check_cluster_name(cluster)
            paths.check_day(day)
        except paths.InvalidNameError:
            continue
        drop_id = manifest_path.name[: -len(MANIFEST_SUFFIX)]
        data_path = day_dir / f"{drop_id}{DATA_SUFFIX}"
        if data_path.exists():
            found.append(DropRef(cluster, day, drop_id, data_path, manifest_path))
    return sorted(found, key=lambda d: (d.cluster, d.day, d.drop_id))


def read_drop_text(ref: DropRef) -> bytes:
    """The uncompressed sacct text of a drop."""
    with gzip.open(ref.data_path, "rb") as fh:
        return fh.read()


def read_manifest_line(stream: BinaryIO) -> dict | None:
    """Read one drop-stream manifest line; None at a clean end of stream."""
    line = stream.readline(MAX_MANIFEST_BYTES + 1)
    if not line:
        return None
    if len(line) > MAX_MANIFEST_BYTES or not line.endswith(b"\n"):
        raise DropFormatError("drop stream: manifest line missing, unterminated or over 8 MiB")
    try:
        return validate_manifest(json.loads(line))
    except json.JSONDecodeError as err:
        raise DropFormatError(f"drop stream: manifest is not JSON ({err.msg} at column {err.colno})") from err
    except (UnicodeDecodeError, RecursionError) as err:
        raise DropFormatError(f"drop stream: manifest is not UTF-8 JSON of sane depth ({err})") from err


def iter_drop_stream(stream: BinaryIO) -> Iterator[tuple[dict, bytes]]:
    """Yield ``(manifest, gzip bytes)`` for each drop in a stream (``agent --stdout``, push body).

    Format: a one-line JSON manifest, then exactly ``manifest["gzip_size"]`` bytes
    of gzip; drops may follow one another.
    """
    while (manifest := read_manifest_line(stream)) is not None:
        data = stream.read(manifest["gzip_size"])
        if len(data) != manifest["gzip_size"]:
            raise DropFormatError(
                f"drop stream for {manifest['cluster']} {manifest['day']}: expected {manifest['gzip_size']} "
                f"gzip bytes, got {len(data)} (truncated transfer?)"
            )
        yield manifest, data


# --- Which days need processing (pure; the sensor and ``process`` share it) -------------------


def day_digests(drop_keys: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """``{day: digest}`` for ``(cluster, day, drop_id)`` triples: the digest names the exact set of drops.

    The digest is the first 16 hex digits of the sha256 of the sorted ``cluster/drop_id``
    lines, so it does not depend on listing order and changes when a drop is added or removed.
    """
    per_day: dict[str, set[str]] = {}
    for cluster, day, drop_id in drop_keys:
        per_day.setdefault(day, set()).add(f"{cluster}/{drop_id}")
    return {
        day: hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]
        for day, ids in sorted(per_day.items())
    }


def days_with_new_drops(current: dict[str, str], seen: dict[str, str]) -> list[str]:
    """Sorted days whose set of drops (``current`` digest) differs from what was ``seen`` (processed)."""
    return sorted(day for day, digest in current.items() if seen.get(day) != digest)


def batch_days(days: Iterable[str], max_span_days: int) -> list[tuple[str, str]]:
    """Group sorted days into ``(first, last)`` ranges spanning at most ``max_span_days`` days each.

    Days between two new days are included in the range (re-processing a day is
    idempotent), so a year of drops becomes a handful of runs, not one per day.
    """
    if max_span_days < 1:
        raise ValueError(f"max_span_days must be >= 1, got {max_span_days}")
    batches: list[tuple[str, str]] = []
    for day in sorted(set(days)):
        if batches and (
            dt.date.fromisoformat(day) - dt.date.fromisoformat(batches[-1][0])
        ).days < max_span_days:
            batches[-1] = (batches[-1][0], day)
        else:
            batches.append((day, day))
    return batches


@dataclass(frozen=True)
class LandingDecision:
    """What a landing-zone watcher should do: run these day ranges, then store ``cursor``."""

    ranges: tuple[tuple[str, str, str], ...]  # (first day, last day, run key)
    cursor: str


def decide_landing_runs(
    drop_keys: Iterable[tuple[str, str, str]], cursor: str | None, max_span_days: int
) -> LandingDecision:
    """Given the landing listing and the JSON cursor (``{"days": {day: digest}}``), the runs to request.

    Run keys are deterministic (range + the digests of its days), so a replayed
    listing never launches a second run for the same drops. A cursor that is not
    valid JSON raises ValueError saying so (reset the sensor cursor to recover).
    """
    seen: dict[str, str] = {}
    if cursor:
        try:
            seen = dict(json.loads(cursor)["days"])
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"landing cursor is not {{\"days\": {{...}}}} JSON: {cursor[:80]!r}; reset it") from err
    current = day_digests(drop_keys)
    new_days = days_with_new_drops(current, seen)
    ranges = []
    for first, last in batch_days(new_days, max_span_days):
        in_range = [f"{d}={current[d]}" for d in new_days if first <= d <= last]
        key = hashlib.sha256(" ".join(in_range).encode()).hexdigest()[:16]
        ranges.append((first, last, f"landing:{first}..{last}:{key}"))
    merged = {**seen, **current}
    return LandingDecision(tuple(ranges), json.dumps({"days": merged}, sort_keys=True, separators=(",", ":")))
