"""Every file under a folder with its change stamp, in one listing: a local folder or an S3 prefix.

The dashboard asks "what changed?" every few seconds (``dashboard_store``); one recursive listing answers
it for the whole warehouse (``os.walk`` on disk, one paginated LIST on S3: ``fs.find(detail=True)``), never
a HEAD or ``stat`` per file over the network.

A file's stamp is ``(mtime_ns, size)``. S3's ``LastModified`` has whole seconds, so a rewrite within the
same second and of the same size would look unchanged: there the sub-second part of the stamp carries
the object's ETag (a hash of its bytes), so new content gets a new stamp.
"""

from __future__ import annotations

import hashlib
import os

from slurm_assets.storage import fs

Stamp = tuple[int, int]  # (mtime_ns, size)


def location(folder: fs.DataPath) -> str:
    """``folder`` as DuckDB and this module name files: the absolute path, or ``s3://bucket/key``."""
    if fs.is_remote(folder):
        return f"{folder.protocol}://{fs.key(folder).rstrip('/')}"
    return os.fspath(folder)


def file_stats(folder: fs.DataPath, suffix: str = "") -> dict[str, Stamp]:
    """``{location: (mtime_ns, size)}`` of every file under ``folder`` whose name ends with ``suffix``.

    A missing folder (or prefix) has no files. On S3 a missing bucket, refused keys or an unreachable
    endpoint raise ``fs.StorageError`` saying which and how to fix it.
    """
    return _remote_stats(folder, suffix) if fs.is_remote(folder) else _local_stats(folder, suffix)


def _local_stats(folder, suffix: str) -> dict[str, Stamp]:
    out = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            if not name.endswith(suffix) or name.startswith("."):  # hidden: a writer's temp file
                continue
            path = os.path.join(dirpath, name)
            try:
                info = os.stat(path)
            except FileNotFoundError:  # replaced or removed while we walked
                continue
            out[path] = (info.st_mtime_ns, info.st_size)
    return out


def _remote_stats(folder, suffix: str) -> dict[str, Stamp]:
    base = fs.key(folder).rstrip("/")
    try:
        found = folder.fs.find(base, detail=True)
    except Exception:  # noqa: BLE001 - botocore's credential errors are not OSErrors
        fs.check_root(folder)  # raises StorageError saying what is wrong and how to fix it
        raise
    out = {}
    for key, info in found.items():
        if info.get("type") != "file" or not key.endswith(suffix) or key.rsplit("/", 1)[-1].startswith("."):
            continue
        out[f"{folder.protocol}://{key}"] = _stamp(info)
    return out


def _stamp(info: dict) -> Stamp:
    modified = info.get("LastModified") or info.get("mtime")
    seconds = int(modified.timestamp()) if modified is not None else 0
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    sub = int(hashlib.sha256(etag.encode()).hexdigest()[:12], 16) % 1_000_000_000 if etag else 0
    return seconds * 1_000_000_000 + sub, int(info.get("size") or 0)
