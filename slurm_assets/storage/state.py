"""Small JSON state under ``DATA_DIR/state/``: which landing days are processed (and with which drops),
and which drops were quarantined whole (so a corrected copy with the same id is processed).

The processed days are the one cursor of "which days have new drops": the pipeline's steps write it
(whoever launched the run: ``process``, the landing sensor, a UI backfill) and both ``process`` and
the landing sensor decide from it (``landing.runs``). The day step records the drops it built each day
from (``mark_built``); the usage step, the last of a day, makes those days processed (``promote_built``),
so a run that fails before its usage tables leaves its days to be done again.
"""

import fcntl
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from slurm_assets.storage import landing, paths
from slurm_assets.storage.atomic import write_bytes_atomic

PROCESSED_FILE = "processed_days.json"
BUILT_FILE = "built_days.json"


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
        raise ValueError(f'{path} is not {{"days": {{...}}}} JSON; delete it to reprocess every day') from err


def mark_built(data_dir: Path, digests: dict[str, str]) -> None:
    """The day step wrote these days' tables from these drops (day -> ``landing.day_digests`` of them)."""
    with _locked(data_dir):
        _write_days(
            Path(data_dir) / "state" / BUILT_FILE, {**_read_days(Path(data_dir) / "state" / BUILT_FILE), **digests}
        )


def promote_built(data_dir: Path, days: list[str]) -> None:
    """The usage step finished ``days``: each is processed with the drops its day step was built from."""
    with _locked(data_dir):
        built = _read_days(Path(data_dir) / "state" / BUILT_FILE)
        done = {day: built[day] for day in days if day in built}
        if done:
            _write_days(processed_path(data_dir), {**read_processed(data_dir), **done})


def processed_days(data_dir: Path, listing: list[tuple[str, str, str]]) -> dict[str, str]:
    """The processed days, minus those whose ``drops`` files are gone (a deleted warehouse is rebuilt)."""
    present = {(cluster, day) for cluster, day, _id in listing}
    return {
        day: digest
        for day, digest in read_processed(data_dir).items()
        if all(paths.partition_file(data_dir, "drops", cluster, d).exists() for cluster, d in present if d == day)
    }


def _read_days(path: Path) -> dict[str, str]:
    try:
        return {str(k): str(v) for k, v in json.loads(path.read_text())["days"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_days(path: Path, days: dict[str, str]) -> None:
    write_bytes_atomic(path, json.dumps({"days": days}, sort_keys=True, indent=1).encode() + b"\n")


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One writer of the days files at a time (run workers of ``process``, daemon runs side by side)."""
    folder = Path(data_dir) / "state"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".days.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


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
