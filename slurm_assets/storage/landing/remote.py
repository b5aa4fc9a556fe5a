"""Storing drops on an ``s3://`` data root: the data object, then the manifest object, which commits the drop.

S3 has no rename and no ``flock``, so the order of the two PUTs and a conditional write take their place:

* the data object is written first (one PUT, or a multipart upload that becomes visible only when complete);
* the manifest object last, with ``If-None-Match: *`` (``fs.put_bytes(exclusive=True)``): of two writers of the
  same drop (two receivers, a retrying agent) exactly one creates it, the other answers ``duplicate``.
  A data object without a manifest is an incomplete drop that readers never list (``listing.py``).

A second writer may still rewrite the data object of a drop just committed: it holds the same text (the
drop id is the sha256 of the text, checked before any store), so readers see one whole copy or the
other. No per-cluster lock is needed, so several receivers may share a bucket. A stored manifest that is
unusable (``read_stored_manifest``) is replaced, as on disk: a corrected copy is stored over it.
"""

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from slurm_assets.storage import fs, paths
from slurm_assets.storage.landing.drop_format import (
    DATA_SUFFIX,
    MANIFEST_SUFFIX,
    drop_id_for,
    read_stored_manifest,
    validate_manifest,
)


def drop_objects(data_dir, cluster: str, day: str, drop_id: str):
    folder = paths.landing_day_dir(data_dir, cluster, day)
    return folder / f"{drop_id}{DATA_SUFFIX}", folder / f"{drop_id}{MANIFEST_SUFFIX}"


def store_drop(data_dir, manifest: dict, gz_source: BinaryIO | bytes | Path) -> tuple[str, bool]:
    """Store a verified drop as two objects, manifest last; ``(drop_id, duplicate)`` as ``store.store_drop``."""
    manifest = validate_manifest(manifest)
    cluster, day = manifest["cluster"], manifest["day"]
    drop_id = drop_id_for(manifest["sha256"])
    data_obj, manifest_obj = drop_objects(data_dir, cluster, day, drop_id)
    manifest_there = manifest_obj.exists()
    if manifest_there and data_obj.exists() and not read_stored_manifest(manifest_obj, cluster, day)[1]:
        return drop_id, True
    _put_data(data_obj, gz_source)
    try:
        # Exclusive unless replacing an unusable manifest (or one whose data object was removed by hand).
        fs.put_bytes(
            manifest_obj, json.dumps(manifest, sort_keys=True, indent=1).encode() + b"\n", exclusive=not manifest_there
        )
    except FileExistsError:
        return drop_id, True  # another writer committed the same drop between our check and our PUT
    return drop_id, False


def _put_data(data_obj, gz_source: BinaryIO | bytes | Path) -> None:
    if isinstance(gz_source, bytes):
        fs.put_bytes(data_obj, gz_source)
    elif isinstance(gz_source, Path):
        fs.put_file(data_obj, gz_source)
    else:  # a stream of unknown size: spooled to a local temp file, uploaded as one (multipart) object
        with tempfile.NamedTemporaryFile(prefix="slurm-usage-drop-", suffix=".psv.gz") as tmp:
            shutil.copyfileobj(gz_source, tmp, 1 << 20)
            tmp.flush()
            fs.put_file(data_obj, Path(tmp.name))


def sweep_orphans(data_dir, older_than_s: float) -> list:
    """Remove data objects without a manifest older than ``older_than_s`` (a writer died between its two PUTs);
    return them. One listing of ``landing/``; nothing else is left behind on S3 (no temp objects)."""
    root = paths.landing_root(data_dir)
    objects = fs.find(root)
    cutoff = time.time() - older_than_s
    removed = []
    for name, info in sorted(objects.items()):
        if not name.endswith(DATA_SUFFIX) or name[: -len(DATA_SUFFIX)] + MANIFEST_SUFFIX in objects:
            continue
        modified = info.get("LastModified")
        if modified is None or modified.timestamp() >= cutoff or not _is_drop_name(name):
            continue
        orphan = root / name
        orphan.unlink(missing_ok=True)
        removed.append(orphan)
    return removed


def _is_drop_name(name: str) -> bool:
    """``<cluster>/<day>/<id>.psv.gz`` with a valid cluster and day (nothing else under landing/ is ours)."""
    parts = name.split("/")
    if len(parts) != 3:
        return False
    try:
        paths.check_cluster_name(parts[0])
        paths.check_day(parts[1])
    except paths.InvalidNameError:
        return False
    return True
