"""What ``GET /api/dashboard/health`` reports: data dir writable, per-cluster last drop (no secrets)."""

import datetime as dt
import errno
import os
import tempfile
import uuid
from pathlib import Path

from slurm_assets.storage import fs, paths


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_writable(data_dir: Path) -> str | None:
    """None if a file can be created (and removed) in the landing zone, else the reason."""
    root = paths.landing_root(data_dir)
    if fs.is_remote(root):
        return _check_remote_writable(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".health-", dir=root)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        return f"landing zone is not writable ({errno.errorcode.get(err.errno or 0, err.errno)})"
    return None


def _check_remote_writable(root) -> str | None:
    probe = root / f".health-{uuid.uuid4().hex}"
    try:
        fs.check_root(root)
        fs.put_bytes(probe, b"")
        probe.unlink(missing_ok=True)
    except fs.StorageError as err:
        return f"landing zone is not usable: {err}"
    except Exception as err:  # noqa: BLE001 - botocore errors are not all OSErrors; health must answer
        return f"landing zone is not writable ({type(err).__name__}: {err})"
    return None


def cluster_status(data_dir: Path) -> dict[str, dict[str, str | None]]:
    """``{cluster: {"latest_day", "last_drop_at"}}`` from the landing folders: one stat per day folder.

    A new file in ``landing/<cluster>/<day>/`` updates that folder's mtime, so the
    newest day-folder mtime is when a drop last arrived (by push, drop or pull).
    """
    root = paths.landing_root(data_dir)
    status: dict[str, dict[str, str | None]] = {}
    try:
        return _scan_remote(root) if fs.is_remote(root) else _scan(root, status)
    except OSError:
        return status  # unreadable landing zone: what was found so far; check_writable reports the cause


def _scan(root: Path, status: dict[str, dict[str, str | None]]) -> dict[str, dict[str, str | None]]:
    if not root.is_dir():
        return status
    for cluster_dir in sorted(root.iterdir()):
        try:
            paths.check_cluster_name(cluster_dir.name)
        except paths.InvalidNameError:
            continue  # .incoming and other non-cluster names
        if not cluster_dir.is_dir():
            continue
        latest_day, last = None, None
        for day_dir in cluster_dir.iterdir():
            try:
                paths.check_day(day_dir.name)
                mtime = day_dir.stat().st_mtime
            except (paths.InvalidNameError, OSError):
                continue
            latest_day = max(latest_day or day_dir.name, day_dir.name)
            last = max(last or mtime, mtime)
        status[cluster_dir.name] = {
            "latest_day": latest_day,
            "last_drop_at": _iso(last) if last else None,
        }
    return status


def _scan_remote(root) -> dict[str, dict[str, str | None]]:
    """``cluster_status`` on S3 (no folders, no folder mtimes): one listing, the newest object per cluster."""
    latest: dict[str, tuple[str, float]] = {}
    for name, info in fs.find(root).items():
        parts = name.split("/")
        try:
            cluster, day = paths.check_cluster_name(parts[0]), paths.check_day(parts[1])
        except (paths.InvalidNameError, IndexError):
            continue
        if len(parts) != 3 or info.get("LastModified") is None:
            continue
        seen_day, seen_at = latest.get(cluster, (day, 0.0))
        latest[cluster] = (max(seen_day, day), max(seen_at, info["LastModified"].timestamp()))
    return {cluster: {"latest_day": day, "last_drop_at": _iso(at)} for cluster, (day, at) in sorted(latest.items())}
