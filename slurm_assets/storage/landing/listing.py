"""Listing the complete drops of the landing zone and reading their text."""

import json
from dataclasses import dataclass
from pathlib import Path

from slurm_assets.storage import fs, paths
from slurm_assets.storage.landing.drop_format import DATA_SUFFIX, MANIFEST_SUFFIX


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


def list_drops(data_dir: Path, day: str | None = None) -> list[DropRef]:
    """Every complete drop (manifest present), sorted by cluster, day and id; junk names are skipped.

    ``day`` restricts the listing to that landing day (one partition's drops).
    """
    root = paths.landing_root(data_dir)
    found: list[DropRef] = []
    if fs.is_remote(root):
        return _list_remote(root, day)
    if not root.is_dir():
        return found
    day_glob = paths.check_day(day) if day is not None else "*"
    for manifest_path in root.glob(f"*/{day_glob}/*{MANIFEST_SUFFIX}"):
        day_dir = manifest_path.parent
        try:
            cluster, day = paths.landing_cluster_day(day_dir)
        except paths.InvalidNameError:
            continue
        drop_id = manifest_path.name[: -len(MANIFEST_SUFFIX)]
        data_path = day_dir / f"{drop_id}{DATA_SUFFIX}"
        if data_path.exists():
            found.append(DropRef(cluster, day, drop_id, data_path, manifest_path))
    return sorted(found, key=lambda d: (d.cluster, d.day, d.drop_id))


def _list_remote(root, day: str | None) -> list[DropRef]:
    """``list_drops`` on S3: one listing of ``landing/`` (for one day: of each cluster's day), data + manifest pairs."""
    if day is None:
        objects = fs.find(root)
    else:
        clusters = [c.name for c in root.iterdir()] if root.exists() else []
        objects = {
            f"{c}/{day}/{name}": info
            for c in clusters
            if _is_cluster(c)
            for name, info in fs.find(root / c / paths.check_day(day)).items()
        }
    found = []
    for name in objects:
        parts = name.split("/")
        if len(parts) != 3 or not parts[2].endswith(MANIFEST_SUFFIX) or (day is not None and parts[1] != day):
            continue
        drop_id = parts[2][: -len(MANIFEST_SUFFIX)]
        if f"{parts[0]}/{parts[1]}/{drop_id}{DATA_SUFFIX}" not in objects:
            continue
        try:
            cluster, drop_day = paths.check_cluster_name(parts[0]), paths.check_day(parts[1])
        except paths.InvalidNameError:
            continue
        folder = root / cluster / drop_day
        found.append(
            DropRef(
                cluster, drop_day, drop_id, folder / f"{drop_id}{DATA_SUFFIX}", folder / f"{drop_id}{MANIFEST_SUFFIX}"
            )
        )
    return sorted(found, key=lambda d: (d.cluster, d.day, d.drop_id))


def _is_cluster(name: str) -> bool:
    try:
        paths.check_cluster_name(name)
    except paths.InvalidNameError:
        return False
    return True


def read_drop_text(ref: DropRef) -> bytes:
    """The uncompressed sacct text of a drop."""
    with fs.open_gzip(ref.data_path) as fh:
        return fh.read()
