"""The running-jobs snapshot: each cluster's unfinished jobs from its latest drop, one file replaced in place."""

from pathlib import Path

import pyarrow as pa

from slurm_assets.pipeline.load import load_drop, parse_utc, read_manifest
from slurm_assets.pipeline import bigdrops
from slurm_assets.sacct.catalog import SPECS, TABLE_SCHEMAS
from slurm_assets.sacct.fields import TS
from slurm_assets.storage import landing, warehouse


def latest_snapshot_drop(refs: list[landing.DropRef]) -> landing.DropRef | None:
    """The drop holding a cluster's latest view of running jobs: most recent day, then collected_at, then id.

    Drops with an unusable manifest are skipped (an earlier day's drop is taken); None if there is none.
    """
    for day in sorted({r.day for r in refs}, reverse=True):  # the last day's manifests, not years of them
        usable = [
            (manifest["collected_at"], r.drop_id, r)
            for r in refs
            if r.day == day
            for manifest in [read_manifest(r)[0]]
            if manifest
        ]
        if usable:
            return max(usable, key=lambda u: u[:2])[2]
    return None


def build_running_jobs(data_dir: Path) -> dict[str, tuple[str, pa.Table]]:
    """``{cluster: (day, running_jobs rows)}``: unfinished jobs of each cluster's latest snapshot drop.

    ``snapshot_time`` is the drop's ``collected_at``. Finished jobs are never here,
    so a job is not counted twice once it finishes.
    """
    by_cluster: dict[str, list[landing.DropRef]] = {}
    for ref in landing.list_drops(data_dir):
        by_cluster.setdefault(ref.cluster, []).append(ref)
    result = {}
    for cluster, refs in sorted(by_cluster.items()):
        latest = latest_snapshot_drop(refs)
        if latest is None:
            continue  # no drop of this cluster has a usable manifest: its last snapshot file stays
        drop = load_drop(latest)
        if not drop.usable:
            rows = TABLE_SCHEMAS["running_jobs"].empty_table()
        else:
            parsed = bigdrops.parse_all([(drop, cluster, drop.day)])[0]  # a big drop in pieces
            snap = parse_utc(drop.manifest["collected_at"])
            unfinished = parsed.unfinished.select(TABLE_SCHEMAS["jobs"].names).cast(TABLE_SCHEMAS["jobs"])
            rows = unfinished.append_column(
                pa.field("snapshot_time", TS), pa.array([snap] * unfinished.num_rows, TS)
            ).sort_by([(c, "ascending") for c in SPECS["running_jobs"].sort_key])
        result[cluster] = (drop.day, rows)
    return result


def write_running_jobs(data_dir: Path, snapshots: dict[str, tuple[str, pa.Table]]) -> None:
    """Replace each cluster's one running_jobs file with its latest snapshot (same path, so readers never race)."""
    for cluster, (_day, rows) in snapshots.items():
        warehouse.write_snapshot(data_dir, "running_jobs", cluster, rows)
