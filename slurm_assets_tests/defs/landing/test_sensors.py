"""Protects ``landing_sensor``: new drops -> one range run plus a warehouse refresh; nothing new -> no run;
a replayed listing (lost cursor) -> the same run keys, so Dagster does not launch duplicates."""

import json

import dagster as dg

from slurm_assets.defs.landing.sensors import landing_sensor
from slurm_assets.defs.resources import StorageResource
from slurm_assets_tests.defs.history import at, land

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def evaluate(data_dir, cursor=None):
    context = dg.build_sensor_context(cursor=cursor, resources={"storage": StorageResource(data_dir=str(data_dir))})
    requests = list(landing_sensor(context))
    return requests, context.cursor


def test_new_drops_request_one_range_run(landed):
    requests, cursor = evaluate(landed)
    daily = [r for r in requests if r.job_name == "daily_tables_job"]
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in daily] == [("2024-05-01", "2024-05-02")]
    assert [r.job_name for r in requests if r not in daily] == ["warehouse_job"]
    assert set(json.loads(cursor)["days"]) == {"2024-05-01", "2024-05-02"}


def test_nothing_new_requests_nothing(landed):
    _, cursor = evaluate(landed)
    requests, again = evaluate(landed, cursor)
    assert requests == [] and again == cursor


def test_a_new_drop_requests_only_its_day(landed):
    _, cursor = evaluate(landed)
    land(landed, "gamma", "2024-05-02", b"JobIDRaw|State\n", at("2024-05-03T06:00:00"))
    requests, _ = evaluate(landed, cursor)
    assert [(r.tags.get(RANGE_START), r.tags.get(RANGE_END)) for r in requests] == [
        ("2024-05-02", "2024-05-02"), (None, None)]


def test_replayed_listing_gives_the_same_run_keys(landed):
    first, _ = evaluate(landed)
    replay, _ = evaluate(landed, None)
    assert [r.run_key for r in replay] == [r.run_key for r in first]
    assert all(r.run_key for r in first)


def test_empty_landing_zone(tmp_path):
    assert evaluate(tmp_path) == ([], '{"days":{}}')


def test_days_outside_the_partitions_are_skipped(landed):
    land(landed, "alpha", "2019-12-31", b"JobIDRaw|State\n", at("2020-01-01T00:10:00"))  # before the start
    requests, cursor = evaluate(landed)
    assert [r.tags.get(RANGE_START) for r in requests] == ["2024-05-01", None]
    assert "2019-12-31" not in cursor
