"""Listing the complete drops of the landing zone and reading their text."""

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from slurm_assets.storage import paths
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


def read_drop_text(ref: DropRef) -> bytes:
    """The uncompressed sacct text of a drop."""
    with gzip.open(ref.data_path, "rb") as fh:
        return fh.read()
