"""Atomic, durable file writes: temp file in the same folder, fsync, os.replace, fsync the folder.

A reader never sees a half-written file, and once a write function returns the
bytes survive a crash (DESIGN.md "Storage"). On an ``s3://`` data root (``fs.is_remote``) the bytes are
collected in memory and PUT as one object when the block ends without error: an object appears whole
or not at all, so there are no temp objects to sweep and nothing to fsync.
"""

import io
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator
from typing import BinaryIO

from slurm_assets.storage import fs


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename or a new file) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(target: Path) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``target`` atomically when the block ends without error."""
    if fs.is_remote(target):
        buffer = io.BytesIO()
        yield buffer
        fs.put_bytes(target, buffer.getvalue())
        return
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically and durably."""
    with atomic_writer(target) as fh:
        fh.write(data)


# A writer killed mid-write (kill -9, power loss) leaves its temp file behind; older than this it is dead.
STALE_AFTER_S = 3600.0


def is_temp_name(name: str) -> bool:
    """A temp file of ``atomic_writer`` / the landing zone (``.<name>.*.tmp``) or of the agent (``.tmp-*``)."""
    return name.startswith(".") and (name.endswith(".tmp") or name.startswith(".tmp-"))


def sweep_temp_files(folder: Path, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the temp files directly in ``folder`` not modified for ``older_than_s``; return them.

    Only old ones: another process may be writing into the same folder right now.
    Object storage has no temp objects (``atomic_writer``): nothing to do there.
    """
    if fs.is_remote(folder):
        return []
    cutoff = time.time() - older_than_s
    removed = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not is_temp_name(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except FileNotFoundError:  # its writer finished or another sweep took it
            continue
    return removed
