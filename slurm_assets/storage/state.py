"""Small JSON state under ``DATA_DIR/state/``: which landing days are processed (and with which drops),
and which drops were quarantined whole (so a corrected copy with the same id is processed).

The processed days are the one cursor of "which days have new drops": the pipeline's steps write it
(whoever launched the run: ``process``, the landing sensor, a UI backfill) and both ``process`` and
the landing sensor decide from it (``landing.runs``). The day step records the drops it built each day
from (``mark_built``); the usage step, the last of a day, makes those days processed (``promote_built``),
so a run that fails before its usage tables leaves its days to be done again.

On an ``s3://`` data root the files are objects (one PUT each) and there is no ``flock`` on S3: the lock is a
file in this host's local folder for the root (``paths.local_dir``), so the workers of ``process`` and the
daemon's runs on one host take turns. Two hosts updating one file at the same instant can lose one's
update, which costs a day processed again (every step is idempotent), never a wrong table.
"""

import fcntl
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from slurm_assets.storage import fs, landing, paths
from slurm_assets.storage.atomic import write_bytes_atomic

PROCESSED_FILE = "processed_days.json"
BUILT_FILE = "built_days.json"


def processed_path(data_dir: Path) -> Path:
    return fs.root(data_dir) / "state" / PROCESSED_FILE


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
            fs.root(data_dir) / "state" / BUILT_FILE,
            {**_read_days(fs.root(data_dir) / "state" / BUILT_FILE), **digests},
        )


def promote_built(data_dir: Path, days: list[str]) -> None:
    """The usage step finished ``days``: each is processed with the drops its day step was built from."""
    with _locked(data_dir):
        built = _read_days(fs.root(data_dir) / "state" / BUILT_FILE)
        done = {day: built[day] for day in days if day in built}
        if done:
            _write_days(processed_path(data_dir), {**read_processed(data_dir), **done})


def processed_days(data_dir: Path, listing: list[tuple[str, str, str]]) -> dict[str, str]:
    """The processed days, minus those whose ``drops`` files are gone (a deleted warehouse is rebuilt)."""
    present = {(cluster, day) for cluster, day, _id in listing}
    if fs.is_remote(data_dir):  # one listing instead of a request per cluster and day
        built = {paths.cluster_day_of(p) for p in paths.partition_files(data_dir, "drops")}
        exists = built.__contains__
    else:

        def exists(cluster_day: tuple[str, str]) -> bool:
            return paths.partition_file(data_dir, "drops", *cluster_day).exists()

    return {
        day: digest
        for day, digest in read_processed(data_dir).items()
        if all(exists((cluster, d)) for cluster, d in present if d == day)
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
    yield from _file_lock(fs.root(data_dir) / "state" / ".days.lock")


def _file_lock(lock_path) -> Iterator[None]:
    if fs.is_remote(lock_path):  # ``<root>/state/<name>``: lock a local file of this host instead
        lock_path = paths.local_dir(lock_path.parent.parent) / "locks" / lock_path.name
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --- drops quarantined whole: a replaced copy must be processed, an unchanged one never again ---------

QUARANTINED_FILE = "quarantined_drops.json"


def quarantined_path(data_dir: Path) -> Path:
    return fs.root(data_dir) / "state" / QUARANTINED_FILE


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
    with contextmanager(_file_lock)(path.parent / ".quarantined.lock"):
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
