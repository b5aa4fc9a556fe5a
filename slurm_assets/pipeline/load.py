"""Reading a day's drops from the landing zone, with read-ahead (the input of the day step).

A drop whose file is corrupt or whose text does not match its manifest's sha256 is
loaded with an ``error`` instead of text: the day step quarantines it and goes on.
"""

import datetime as dt
import hashlib
import itertools
import zlib
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from slurm_assets.pipeline import bigdrops
from slurm_assets.sacct import limits
from slurm_assets.storage import fs, landing, state

# A run's days are parsed (and apportioned) in batches this big: DuckDB's fixed cost per call is paid once
# per batch instead of once per day, and memory stays bounded (issue 7, bench/README.md).
BATCH_TEXT_BYTES = 64 * 2**20
# Days of drops read ahead while a batch is parsed.
PREFETCH_DAYS = 4


@dataclass(frozen=True)
class LoadedDrop:
    """A drop read from the landing zone: its manifest and text (None if unreadable, with the reason).

    ``manifest`` is ``{}`` when the manifest itself is unusable (reason ``bad_manifest``): such a
    drop is quarantined whole and is not in the ``drops`` catalogue.
    """

    cluster: str
    day: str
    drop_id: str
    manifest: dict
    text: bytes | None
    error: str = ""
    fingerprint: str = ""  # of the files as they were before reading (state.drop_fingerprint)
    big_path: Path | None = None  # a drop over bigdrops.BIG_DROP_BYTES: text None, parsed in pieces from here

    @property
    def usable(self) -> bool:
        return not self.error


def parse_utc(value: str) -> dt.datetime:
    """``YYYY-MM-DDTHH:MM:SSZ`` -> aware UTC datetime; ValueError names the bad value."""
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (TypeError, ValueError) as err:
        raise ValueError(f"timestamp {value!r} is not YYYY-MM-DDTHH:MM:SSZ") from err


def read_manifest(ref: landing.DropRef) -> tuple[dict, str]:
    """``(manifest, "")`` if the drop's manifest is what docs/DROP_FORMAT.md says, else ``({}, "bad_manifest: why")``.

    Drops reach the landing zone without the receiver's checks (``agent --output-dir``, SSH, older
    receivers), so the pipeline applies the same ones (``landing.validate_manifest``, ranges from
    ``sacct/limits.py``); the manifest must also name the cluster and day of its folder.
    """
    manifest, error = landing.read_stored_manifest(ref.manifest_path, ref.cluster, ref.day)
    if error:
        return {}, f"bad_manifest: {error}; fix the sender and send the drop again (the new copy replaces this one)"
    return manifest, ""


def load_drop(ref: landing.DropRef) -> LoadedDrop:
    """Read a drop's manifest and text; a bad manifest, corrupt file or sha256 mismatch becomes ``error``.

    The fingerprint is taken first: if a corrected copy replaces the files while they are read, the
    recorded fingerprint is the old one and the copy is processed next time (``state.changed_quarantined``).
    """
    fingerprint = state.drop_fingerprint(ref.data_path, ref.manifest_path)
    manifest, error = read_manifest(ref)
    if error:
        return LoadedDrop(ref.cluster, ref.day, ref.drop_id, {}, None, error, fingerprint)
    try:
        big = bigdrops.big_drop_bytes()
        with fs.open_gzip(ref.data_path) as fh:
            text = fh.read(big + 1)
        if len(text) > big:  # never held whole: the sha256 streamed, the text parsed in pieces (bigdrops.py)
            text = None
            with fs.open_binary(ref.data_path) as gz:
                digest = landing.digest_gzip_text(gz, limits.MAX_DROP_TEXT_BYTES).sha256
        else:
            digest = hashlib.sha256(text).hexdigest()
    except landing.DropTooLargeError as err:
        return LoadedDrop(
            ref.cluster,
            ref.day,
            ref.drop_id,
            manifest,
            None,
            f"too_large: {err} (limits.MAX_DROP_TEXT_BYTES); split the window",
            fingerprint,
        )
    except (OSError, EOFError, zlib.error, landing.DropFormatError) as err:
        return LoadedDrop(ref.cluster, ref.day, ref.drop_id, manifest, None, f"unreadable_drop: {err}", fingerprint)
    if digest != manifest.get("sha256"):
        return LoadedDrop(
            ref.cluster,
            ref.day,
            ref.drop_id,
            manifest,
            None,
            f"sha256_mismatch: text has {digest}, manifest says {manifest.get('sha256')}; re-collect the drop",
            fingerprint,
        )
    return LoadedDrop(
        ref.cluster, ref.day, ref.drop_id, manifest, text, "", fingerprint, ref.data_path if text is None else None
    )


def load_day(data_dir: Path, day: str) -> dict[str, list[LoadedDrop]]:
    """``{cluster: [drops]}`` for every cluster with drops in ``landing/<cluster>/<day>/``."""
    found: dict[str, list[LoadedDrop]] = {}
    for ref in landing.list_drops(data_dir, day=day):
        found.setdefault(ref.cluster, []).append(load_drop(ref))
    return found


def drop_rank(drop: LoadedDrop) -> tuple[str, str]:
    """Order of collections: the latest ``(collected_at, drop_id)`` wins (delivery order never matters)."""
    return (str(drop.manifest.get("collected_at", "")), drop.drop_id)


def text_bytes(loaded: dict[str, list[LoadedDrop]]) -> int:
    # A big drop fills a batch on its own (it is parsed in pieces within the same budget).
    return sum(BATCH_TEXT_BYTES if d.big_path else len(d.text or b"") for drops in loaded.values() for d in drops)


def prefetched(data_dir: Path, days: Iterable[str], ahead: int = PREFETCH_DAYS):
    """``(day, load_day(day))`` in order, read by a background thread up to ``ahead`` days in advance.

    Gunzip and sha256 release the GIL, so reading the next days overlaps parsing the
    current batch. The extra memory is bounded: at most ``ahead`` days, and no more days
    than a batch's text budget holds at the size of the last day read (big days: one).
    """
    todo = iter(days)
    with ThreadPoolExecutor(1) as pool:
        queue = deque((day, pool.submit(load_day, data_dir, day)) for day in itertools.islice(todo, 1))
        while queue:
            day, loading = queue.popleft()
            loaded = loading.result()
            room = max(1, min(ahead, BATCH_TEXT_BYTES // max(text_bytes(loaded), 1)))
            while len(queue) < room and (upcoming := next(todo, None)) is not None:
                queue.append((upcoming, pool.submit(load_day, data_dir, upcoming)))
            yield day, loaded


def missing_drops(data_dir: Path, days: list[str]) -> dict[str, list[str]]:
    """``{cluster: [days]}``: days of ``days`` on which a cluster known to the landing zone has no drop.

    A cluster is known from its first landing day on, so a new cluster is not "missing" its history.
    """
    have: dict[str, set[str]] = {}
    for ref in landing.list_drops(data_dir):
        have.setdefault(ref.cluster, set()).add(ref.day)
    return {
        cluster: gaps
        for cluster, seen in sorted(have.items())
        if (gaps := [d for d in days if d >= min(seen) and d not in seen])
    }
