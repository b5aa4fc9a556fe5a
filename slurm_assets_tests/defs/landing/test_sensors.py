"""Protects ``landing_sensor``: new drops -> one range run; nothing new -> no run; a replayed listing (lost
cursor) -> the same run keys, so Dagster does not launch duplicates; a corrected copy of a drop quarantined whole
(same id) -> its day once (issue 18). And ``warehouse_sensor``: a successful
day-range run is followed by exactly one warehouse refresh."""

import json

import dagster as dg

from slurm_assets.defs.landing.sensors import landing_sensor
from slurm_assets.defs.resources import StorageResource
from slurm_assets.pipeline import day_step
from slurm_assets.sacct import catalog
from slurm_assets_tests.defs.history import at, land
from slurm_assets_tests.drops import make_drop, write_landed

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def evaluate(data_dir, cursor=None):
    context = dg.build_sensor_context(cursor=cursor, resources={"storage": StorageResource(data_dir=str(data_dir))})
    requests = list(landing_sensor(context))
    return requests, context.cursor


def test_new_drops_request_one_range_run(landed):
    requests, cursor = evaluate(landed)
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests] == [("2024-05-01", "2024-05-02")]
    assert set(json.loads(cursor)["days"]) == {"2024-05-01", "2024-05-02"}


def test_nothing_new_requests_nothing(landed):
    _, cursor = evaluate(landed)
    requests, again = evaluate(landed, cursor)
    assert requests == [] and again == cursor


def test_a_new_drop_requests_only_its_day(landed):
    _, cursor = evaluate(landed)
    land(landed, "gamma", "2024-05-02", b"JobIDRaw|State\n", at("2024-05-03T06:00:00"))
    requests, _ = evaluate(landed, cursor)
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests] == [("2024-05-02", "2024-05-02")]


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
    assert [r.tags[RANGE_START] for r in requests] == ["2024-05-01"]
    assert "2019-12-31" not in cursor


def test_warehouse_refresh_follows_a_successful_day_run(landed):
    from slurm_assets.definitions import defs as load_defs
    from slurm_assets.defs.landing.sensors import warehouse_sensor

    instance = dg.DagsterInstance.ephemeral()
    result = (
        load_defs()
        .resolve_job_def("daily_tables_job")
        .execute_in_process(
            instance=instance,
            run_config={"resources": {"storage": {"config": {"data_dir": str(landed)}}}},
            tags={RANGE_START: "2024-05-01", RANGE_END: "2024-05-01"},
        )
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="warehouse_sensor",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_success_event(),
    )
    request = warehouse_sensor(context)
    assert request.run_key == f"warehouse-after:{result.run_id}"


def test_warehouse_refresh_follows_a_ui_backfill_run_and_not_itself(landed):
    """A UI backfill or "Materialize" runs the implicit asset job: the views and running_jobs must follow it too."""
    from slurm_assets.definitions import defs as load_defs
    from slurm_assets.defs.landing.sensors import warehouse_sensor

    defs, instance = load_defs(), dg.DagsterInstance.ephemeral()
    config = {"resources": {"storage": {"config": {"data_dir": str(landed)}}}}
    runs = {
        "asset job": defs.resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={dg.AssetKey(name) for name in catalog.assets_of(catalog.DAY_STEP)})
        .execute_in_process(
            instance=instance, run_config=config, tags={RANGE_START: "2024-05-01", RANGE_END: "2024-05-01"}
        ),
        "warehouse_job": defs.resolve_job_def("warehouse_job").execute_in_process(instance=instance, run_config=config),
    }

    def answer(run):
        return warehouse_sensor(
            dg.build_run_status_sensor_context(
                sensor_name="warehouse_sensor",
                dagster_instance=instance,
                dagster_run=run,
                dagster_event=runs["asset job"].get_run_success_event(),
            )
        )

    assert all(result.success for result in runs.values())
    asset_run = runs["asset job"].dagster_run
    assert answer(asset_run).run_key == f"warehouse-after:{asset_run.run_id}"
    # as the daemon records a backfill's run: with its asset selection
    backfill_run = asset_run._replace(asset_selection=frozenset({dg.AssetKey("usage_daily")}))
    assert answer(backfill_run).run_key == f"warehouse-after:{asset_run.run_id}"
    only_views = asset_run._replace(asset_selection=frozenset({dg.AssetKey("warehouse_duckdb")}))
    assert isinstance(answer(only_views), dg.SkipReason)
    assert isinstance(answer(runs["warehouse_job"].dagster_run), dg.SkipReason)  # never follows itself


def test_a_corrected_copy_of_a_quarantined_drop_requests_its_day_once(tmp_path):
    manifest, gz = make_drop()
    write_landed(tmp_path, {**manifest, "collected_at": "yesterday"}, gz)  # bypassed the receiver
    _, cursor = evaluate(tmp_path)
    list(day_step.process_days(tmp_path, ["2024-05-01"]))  # quarantined whole and recorded
    assert evaluate(tmp_path, cursor)[0] == []  # not retried
    write_landed(tmp_path, manifest, gz)  # the corrected copy: same drop id
    requests, cursor = evaluate(tmp_path, cursor)
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests] == [("2024-05-01", "2024-05-01")]
    assert requests[0].run_key.startswith("quarantine-retry:2024-05-01:")
    assert [r.run_key for r in evaluate(tmp_path, cursor)[0]] == [requests[0].run_key]  # same copy, same key
    list(day_step.process_days(tmp_path, ["2024-05-01"]))
    assert evaluate(tmp_path, cursor)[0] == []
