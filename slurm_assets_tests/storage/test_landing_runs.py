"""Protects the landing-zone decision the sensor and ``process`` share: which days to (re)process, batched how,
under which run key; a replayed listing must never request a second run for the same drops."""

import json

import pytest

from slurm_assets.storage import landing


@pytest.mark.parametrize(
    ("days", "span", "expected"),
    [
        ([], 100, []),  # nothing new
        (["2024-01-01"], 100, [("2024-01-01", "2024-01-01")]),  # one day
        (["2024-01-03", "2024-01-01"], 100, [("2024-01-01", "2024-01-03")]),  # unsorted; the gap day is re-run too
        (["2024-01-01", "2024-01-02", "2024-01-03"], 2, [("2024-01-01", "2024-01-02"), ("2024-01-03", "2024-01-03")]),
        (["2024-01-01", "2024-06-01"], 100, [("2024-01-01", "2024-01-01"), ("2024-06-01", "2024-06-01")]),  # far apart
        (["2024-01-01", "2024-01-01"], 1, [("2024-01-01", "2024-01-01")]),  # duplicates collapse
    ],
)
def test_batch_days(days, span, expected):
    assert landing.batch_days(days, span) == expected


def test_batch_days_rejects_zero_span():
    with pytest.raises(ValueError, match="max_span_days"):
        landing.batch_days(["2024-01-01"], 0)


def test_day_digest_ignores_order_and_tracks_the_drop_set():
    a = landing.day_digests([("alpha", "2024-01-01", "aa"), ("beta", "2024-01-01", "bb")])
    b = landing.day_digests([("beta", "2024-01-01", "bb"), ("alpha", "2024-01-01", "aa")])
    c = landing.day_digests([("alpha", "2024-01-01", "aa")])
    # same drop id under another cluster is another drop
    d = landing.day_digests([("alpha", "2024-01-01", "bb"), ("beta", "2024-01-01", "aa")])
    assert a == b
    assert a["2024-01-01"] != c["2024-01-01"] != d["2024-01-01"]


LISTING = [("alpha", "2024-05-01", "1111"), ("alpha", "2024-05-02", "2222"), ("beta", "2024-05-02", "3333")]


def test_decide_new_nothing_new_and_replayed():
    first = landing.decide_landing_runs(LISTING, None, 100)
    assert [(a, b) for a, b, _ in first.ranges] == [("2024-05-01", "2024-05-02")]
    # nothing new: no run, same cursor
    again = landing.decide_landing_runs(LISTING, first.cursor, 100)
    assert again.ranges == () and json.loads(again.cursor) == json.loads(first.cursor)
    # a new drop on 05-02 only: that day alone, with a new run key
    more = landing.decide_landing_runs(LISTING + [("beta", "2024-05-02", "4444")], first.cursor, 100)
    assert [(a, b) for a, b, _ in more.ranges] == [("2024-05-02", "2024-05-02")]
    # replayed (the cursor was lost, e.g. sensor reset): same run keys as before, so Dagster skips them
    replay = landing.decide_landing_runs(LISTING, None, 100)
    assert replay.ranges == first.ranges


def test_decide_rejects_a_corrupt_cursor():
    with pytest.raises(ValueError, match="reset it"):
        landing.decide_landing_runs(LISTING, "not json", 100)
