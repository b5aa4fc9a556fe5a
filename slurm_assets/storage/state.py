"""Small JSON state under ``DATA_DIR/state/``: which landing days ``process`` has processed (and with which drops),
and which drops were quarantined whole (so a corrected copy with the same id is processed)."""

import fcntl
import hashlib
import json
from pathlib import Path

from slurm_assets.storage import landing
from slurm_assets.storage.atomic import write_bytes_atomic

PROCESSED_FILE = "processed_days.json"


def processed_path(data_dir: Path) -> Path:
    return Path(data_dir) / "state" / PROCESSED_FILE


def read_processed(data_dir: Path) -> dict[str, str]:
    """``{day: drops digest}`` of days processed so far ({} if none); a corrupt file raises ValueError with the fix."""
    path = processed_path(data_dir)
    if not path.exists():
        return {}
    try:
        days = json.loads(path.read_text())["days"]
        if not isinstance(days, dict):
            raise TypeError
        return {str(k): str(v) for k, v in days.items()}
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not {{\"days\": {{...}}}} JSON; delete it to reprocess every day") from err


def mark_processed(data_dir: Path, digests: dict[str, str]) -> None:
    """Record ``digests`` (day -> drops digest) as processed, atomically."""
    days = {**read_processed(data_dir), **digests}
    write_bytes_atomic(processed_path(data_dir), json.dumps({"days": days}, sort_keys=True, indent=1).encode() + b"\n")


# --- drops quarantined whole: a replaced copy must be processed, an unchanged one never again ---------

QUARANTINED_FILE = "quarantined_drops.json"


def quarantined_path(data_dir: Path) -> Path:
    return Path(data_dir) / "state" / QUARANTINED_FILE


def drop_fingerprint(data_path: Path, manifest_path: Path) -> str:
    """What changes when either file of a landed drop is replaced: the manifest's bytes, the data file's size and
    mtime (a re-sent drop keeps its id, the sha256 of its text, so the name alone does not tell)."""
    digest = hashlib.sha256()
    for path in (manifest_path, data_path):
        try:
            info = path.stat()
            digest.update(f"{path.name} {info.st_size} {info.st_mtime_ns}\n".encode())
            if path == manifest_path and info.st_size <= 8 * 2**20:
                digest.update(path.read_bytes())
        except OSError:
            digest.update(f"{path.name} missing\n".encode())
    return digest.hexdigest()[:16]


def read_quarantined(data_dir: Path) -> dict[str, str]:
    """``{"cluster/day/drop_id": fingerprint}`` of the drops quarantined whole when last processed ({} if none).

    A corrupt file reads as {} (it only saves reprocessing; ``process --force`` redoes everything anyway)."""
    try:
        drops = json.loads(quarantined_path(data_dir).read_text())["drops"]
        return {str(k): str(v) for k, v in drops.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def record_quarantined(data_dir: Path, days: list[str], found: dict[str, str]) -> None:
    """Replace the entries of ``days`` with ``found`` (run workers of ``process`` call this side by side: locked)."""
    path = quarantined_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".quarantined.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read_quarantined(data_dir)
        done = set(days)
        kept = {k: v for k, v in current.items() if k.split("/")[1] not in done}
        merged = dict(sorted({**kept, **found}.items()))
        if merged != current:
            write_bytes_atomic(path, json.dumps({"drops": merged}, indent=1).encode() + b"\n")


def changed_quarantined(data_dir: Path) -> dict[str, str]:
    """``{day: digest}`` of days with a drop quarantined whole whose files changed since (a corrected copy, or
    gone). The digest names the new fingerprints, so a sensor's run key differs for each new copy."""
    changed: dict[str, list[str]] = {}
    for key, recorded in read_quarantined(data_dir).items():
        try:
            cluster, day, drop_id = key.split("/")
            now = drop_fingerprint(*landing.drop_paths(data_dir, cluster, day, drop_id))
        except ValueError:  # not a key this module wrote
            continue
        if now != recorded:
            changed.setdefault(day, []).append(f"{key}={now}")
    return {day: hashlib.sha256(" ".join(sorted(v)).encode()).hexdigest()[:16] for day, v in sorted(changed.items())}
