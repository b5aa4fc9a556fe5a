"""The drop format (docs/DROP_FORMAT.md): manifest fields and their checks, drop ids, the drop stream.

A drop is gzip-compressed ``sacct --parsable2`` text plus a JSON manifest; a stream
(``agent --stdout``, a push body) is manifest lines each followed by its gzip bytes.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from slurm_assets.storage import manifest_check, paths

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
SOURCES = ("push", "drop", "ssh", "json", "import", "seed")  # import: sacct files; seed: seed Parquet
SEED_FORMAT_SOURCES = ("json", "seed")  # built from the seed system's job records (stand-in JobIDRaw of arrays)


class DropFormatError(ValueError):
    """A drop or manifest that does not follow docs/DROP_FORMAT.md; the message says what to fix."""


class DropTooLargeError(DropFormatError):
    """A drop whose decompressed text is over the configured limit (a gzip bomb, or a limit set too low)."""


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
        raise DropFormatError(
            f"manifest format {manifest['format']!r} is not one of {', '.join(DROP_FORMATS)}"
            "; upgrade the server or use a matching agent"
        )
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
