"""Storing drops in the landing zone (atomically, durably, once) and sweeping what killed writers left.

The manifest is written last (renamed into place after the data, under the cluster's lock),
so a drop without a manifest is incomplete and is ignored by readers. On an ``s3://`` data root the
same happens with two PUTs and a conditional manifest write (``remote.py``).
"""

import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from slurm_assets.storage import fs, paths
from slurm_assets.storage.atomic import STALE_AFTER_S, fsync_dir, sweep_temp_files
from slurm_assets.storage.landing.drop_format import (
    DATA_SUFFIX,
    MANIFEST_SUFFIX,
    drop_id_for,
    read_stored_manifest,
    validate_manifest,
)
from slurm_assets.storage.landing import remote


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
    cluster, day = paths.landing_cluster_day(manifest_path.parent)
    return not read_stored_manifest(manifest_path, cluster, day)[1]


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
    if fs.is_remote(data_dir):
        return remote.store_drop(data_dir, manifest, gz_source)
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
    On a duplicate ``gz_file`` is left where it is (the caller removes it), as on an ``s3://`` data
    root, where it is uploaded.
    """
    if fs.is_remote(data_dir):
        return remote.store_drop(data_dir, manifest, Path(gz_file))
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
    if fs.is_remote(data_dir):
        return remote.sweep_orphans(data_dir, older_than_s)
    root = paths.landing_root(data_dir)
    removed: list[Path] = []
    cutoff = time.time() - older_than_s
    for cluster_dir in sorted(root.iterdir()) if root.is_dir() else []:
        if not cluster_dir.is_dir() or not _is_cluster_name(cluster_dir.name):
            continue  # .incoming, or a folder no writer of ours made
        for day_dir in sorted(p for p in cluster_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            removed += sweep_temp_files(day_dir, older_than_s)
            pairs = [
                (p, p.with_name(p.name[: -len(DATA_SUFFIX)] + MANIFEST_SUFFIX)) for p in day_dir.glob(f"*{DATA_SUFFIX}")
            ]
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
