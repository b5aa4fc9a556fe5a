"""Which days need processing, from a listing of drops and what was processed before (pure: no I/O).

``python -m slurm_assets process`` and the landing sensor evaluate the same decision over the same cursor:
the processed days (``state.processed_days``: ``{day: digest}`` of the drops each day's tables were built
from, written by the pipeline's steps whoever launched them). The sensor also skips what it requested
already (its own cursor: runs that may still be going on), so nothing is done twice.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass


def day_digests(drop_keys: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """``{day: digest}`` for ``(cluster, day, drop_id)`` triples: the digest names the exact set of drops.

    The digest is the first 16 hex digits of the sha256 of the sorted ``cluster/drop_id``
    lines, so it does not depend on listing order and changes when a drop is added or removed.
    """
    per_day: dict[str, set[str]] = {}
    for cluster, day, drop_id in drop_keys:
        per_day.setdefault(day, set()).add(f"{cluster}/{drop_id}")
    return {
        day: hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16] for day, ids in sorted(per_day.items())
    }


def days_with_new_drops(
    current: dict[str, str], processed: dict[str, str], requested: dict[str, str] | None = None
) -> list[str]:
    """Sorted days whose set of drops (``current`` digest) is neither the one ``processed`` nor one already
    ``requested`` (a sensor's runs not finished yet)."""
    requested = requested or {}
    return sorted(day for day, digest in current.items() if digest not in (processed.get(day), requested.get(day)))


def batch_days(days: Iterable[str], max_span_days: int) -> list[tuple[str, str]]:
    """Group sorted days into ``(first, last)`` ranges spanning at most ``max_span_days`` days each.

    Days between two new days are included in the range (re-processing a day is
    idempotent), so a year of drops becomes a handful of runs, not one per day.
    """
    if max_span_days < 1:
        raise ValueError(f"max_span_days must be >= 1, got {max_span_days}")
    batches: list[tuple[str, str]] = []
    for day in sorted(set(days)):
        if batches and (dt.date.fromisoformat(day) - dt.date.fromisoformat(batches[-1][0])).days < max_span_days:
            batches[-1] = (batches[-1][0], day)
        else:
            batches.append((day, day))
    return batches


@dataclass(frozen=True)
class LandingDecision:
    """What a landing-zone watcher should do: run these day ranges, then store ``cursor``."""

    ranges: tuple[tuple[str, str, str], ...]  # (first day, last day, run key)
    cursor: str


def decide_landing_runs(
    drop_keys: Iterable[tuple[str, str, str]],
    cursor: str | None,
    max_span_days: int,
    processed: dict[str, str] | None = None,
) -> LandingDecision:
    """Given the landing listing, the processed days and the JSON cursor of days requested before
    (``{"days": {day: digest}}``), the runs to request.

    Run keys are deterministic (range + the digests of its days), so a replayed
    listing never launches a second run for the same drops. A cursor that is not
    valid JSON raises ValueError saying so (reset the sensor cursor to recover).
    """
    seen: dict[str, str] = {}
    if cursor:
        try:
            seen = dict(json.loads(cursor)["days"])
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f'landing cursor is not {{"days": {{...}}}} JSON: {cursor[:80]!r}; reset it') from err
    current = day_digests(drop_keys)
    new_days = days_with_new_drops(current, processed or {}, seen)
    ranges = []
    for first, last in batch_days(new_days, max_span_days):
        in_range = [f"{d}={current[d]}" for d in new_days if first <= d <= last]
        key = hashlib.sha256(" ".join(in_range).encode()).hexdigest()[:16]
        ranges.append((first, last, f"landing:{first}..{last}:{key}"))
    merged = {**seen, **current}
    return LandingDecision(tuple(ranges), json.dumps({"days": merged}, sort_keys=True, separators=(",", ":")))
