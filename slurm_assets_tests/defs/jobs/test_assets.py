"""Protects the daily assets: a partition range materializes in ONE run with per-cluster files and metadata,
multi-day jobs land once in their end day, re-materializing gives identical files, a cluster that lost its
drops loses its files, and corrupt lines are quarantined and reported by the check (the rest is processed)."""

import dagster as dg
import pyarrow.parquet as pq
import pytest

from slurm_assets.defs.jobs.assets import daily_tables_asset, running_jobs
from slurm_assets.defs.jobs.checks import (
    jobs_durations_non_negative,
    jobs_keys_unique,
    quarantine_share_below_threshold,
)
from slurm_assets.defs.resources import StorageResource
from slurm_assets.defs.usage.assets import usage_tables_asset, warehouse_duckdb
from slurm_assets.defs.usage.checks import usage_matches_jobs
from slurm_assets.storage import paths, warehouse
from slurm_assets_tests.defs.conftest import COLLECTED, HISTORY
from slurm_assets_tests.defs.history import HEADER, at, land, render_window

daily_tables, usage_tables = daily_tables_asset(), usage_tables_asset()
ASSETS = [
    daily_tables,
    usage_tables,
    jobs_keys_unique,
    jobs_durations_non_negative,
    quarantine_share_below_threshold,
    usage_matches_jobs,
]


def run_range(data_dir, first, last, assets=ASSETS):
    return dg.materialize(
        assets,
        resources={"storage": StorageResource(data_dir=str(data_dir))},
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )


def files(data_dir):
    return {p.relative_to(data_dir).as_posix(): p.read_bytes() for p in sorted(data_dir.glob("warehouse/**/*.parquet"))}


def test_range_is_one_run_with_per_cluster_metadata(landed):
    result = run_range(landed, "2024-05-01", "2024-05-02")
    assert result.success
    jobs = pq.read_table(paths.partition_file(landed, "jobs", "alpha", "2024-05-02")).to_pylist()
    # job 2 ran 05-01 22:00 -> 05-02 02:00: in 05-02 only; job 4 still runs: not in jobs
    assert [(j["job_id_raw"], j["state"]) for j in jobs] == [(2, "FAILED"), (3, "COMPLETED")]
    assert [
        j["job_id_raw"] for j in pq.read_table(paths.partition_file(landed, "jobs", "alpha", "2024-05-01")).to_pylist()
    ] == [1]
    mats = {
        (m.asset_key.to_user_string(), m.partition): m.materialization.metadata
        for m in result.get_asset_materialization_events()
    }
    day1, day2 = mats["jobs", "2024-05-01"], mats["jobs", "2024-05-02"]
    # each day shows its own figures; the run's totals are under run_* on every day of the run
    assert day2["by_cluster"].value["alpha"] == {
        "rows": 2,
        "cpu_hours": 8 * 4 + 2 * 2,
        "gpu_hours": 4.0,
        "jobs_by_state": {"COMPLETED": 1, "FAILED": 1},
        "quarantined": 0,
    }
    assert day2["dagster/row_count"].value == 2 and day1["dagster/row_count"].value == 2
    assert day1["by_cluster"].value["alpha"]["rows"] == 1 and day1["by_cluster"].value["beta"]["rows"] == 1
    assert day2["run_by_cluster"].value["alpha"]["rows"] == 3 and day2["run_row_count"].value == 4
    assert day1["missing_drops"].value == {} and day2["missing_drops"].value == {}
    assert day2["jobs_by_day"].value == {"2024-05-01": {"alpha": 1, "beta": 1}, "2024-05-02": {"alpha": 2, "beta": 0}}
    assert mats["drops", "2024-05-01"]["by_cluster"].value == {"alpha": 1, "beta": 1}
    usage1, usage2 = mats["usage_daily", "2024-05-01"], mats["usage_daily", "2024-05-02"]
    # usage of the jobs that ENDED on the day (job 2's 32 CPU-hours count under 05-02)
    assert usage1["cpu_hours_by_cluster"].value == {"alpha": 8.0, "beta": 48.0}
    assert usage2["cpu_hours_by_cluster"].value == {"alpha": 36.0}
    assert usage2["run_cpu_hours_by_cluster"].value == {"alpha": 44.0, "beta": 48.0}
    assert "dagster/column_schema" in daily_tables.specs_by_key[dg.AssetKey("jobs")].metadata
    assert all(e.passed for e in result.get_asset_check_evaluations())
    # usage: job 2's 4 h split over the two days, stored with the job under its end day
    usage = pq.read_table(paths.partition_file(landed, "usage_daily", "alpha", "2024-05-02")).to_pylist()
    bob = sorted((u["date"].isoformat(), u["cpu_hours"]) for u in usage if u["user"] == "bob")
    assert bob == [("2024-05-01", 16.0), ("2024-05-02", 16.0)]


def test_rematerializing_gives_identical_files(landed):
    run_range(landed, "2024-05-01", "2024-05-02")
    before = files(landed)
    run_range(landed, "2024-05-02", "2024-05-02")
    run_range(landed, "2024-05-01", "2024-05-02")
    assert files(landed) == before


def test_a_recollection_updates_and_a_vanished_cluster_is_removed(landed):
    run_range(landed, "2024-05-01", "2024-05-02")
    for path in (landed / "landing" / "beta").glob("2024-05-02/*"):
        path.unlink()
    # alpha 05-02 re-collected a day later: a second drop, the same finished jobs (job 4 runs until 05-09)
    land(
        landed,
        "alpha",
        "2024-05-02",
        render_window(HISTORY["alpha"], "2024-05-02", at("2024-05-04T00:00:00")),
        at("2024-05-04T00:00:00"),
    )
    result = run_range(landed, "2024-05-01", "2024-05-02")
    for table in ("jobs", "drops", "quarantine", "usage_daily"):
        assert not paths.partition_file(landed, table, "beta", "2024-05-02").exists(), table
    meta = {
        (m.asset_key.to_user_string(), m.partition): m.materialization.metadata
        for m in result.get_asset_materialization_events()
    }
    assert meta["jobs", "2024-05-02"]["missing_drops"].value == {"beta": ["2024-05-02"]}
    assert meta["jobs", "2024-05-01"]["missing_drops"].value == {}
    assert meta["jobs", "2024-05-02"]["run_missing_drops"].value == {"beta": ["2024-05-02"]}
    drops = pq.read_table(paths.partition_file(landed, "drops", "alpha", "2024-05-02"))
    assert drops.num_rows == 2
    assert pq.read_table(paths.partition_file(landed, "jobs", "alpha", "2024-05-02")).num_rows == 2


def test_corrupt_lines_are_quarantined_and_reported(tmp_path):
    good = render_window(HISTORY["alpha"], "2024-05-01", COLLECTED)
    corrupt = (
        good + b"999|999|x|only four fields\n" + b"1000|1000|run.sh|eve|ops|cpu|normal|COMPLETED|0:0|"
        b"2024-05-01T10:00:00|2024-05-01T10:00:00|2024-05-01T12:00:00|2024-05-01T11:00:00|"
        + b"|" * (HEADER.count("|") - 12)
        + b"\n"
    )
    land(tmp_path, "alpha", "2024-05-01", corrupt, COLLECTED)
    result = run_range(tmp_path, "2024-05-01", "2024-05-01")
    assert result.success
    quarantine = pq.read_table(paths.partition_file(tmp_path, "quarantine", "alpha", "2024-05-01")).to_pylist()
    assert len(quarantine) >= 1 and all(q["reason"] and q["raw_line"] for q in quarantine)
    assert any(q["raw_line"].startswith("999|") for q in quarantine)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    share = checks["quarantine_share_below_threshold"]
    assert not share.passed and share.metadata["quarantined_by_cluster"].value["alpha"] == len(quarantine)
    # the good job of that drop is still processed
    assert [
        j["job_id_raw"]
        for j in pq.read_table(paths.partition_file(tmp_path, "jobs", "alpha", "2024-05-01")).to_pylist()
    ] == [1]


def test_running_jobs_and_duckdb_views(landed):
    run_range(landed, "2024-05-01", "2024-05-02")
    result = dg.materialize(
        [running_jobs, warehouse_duckdb], resources={"storage": StorageResource(data_dir=str(landed))}
    )
    assert result.success
    con = warehouse.connect_readonly(landed)
    assert con.execute("SELECT cluster, job_id_raw, state FROM running_jobs").fetchall() == [("alpha", 4, "RUNNING")]
    assert con.execute("SELECT count(*) FROM jobs WHERE job_id_raw = 4").fetchone() == (0,)
    import duckdb

    file_con = duckdb.connect(str(paths.duckdb_path(landed)), read_only=True)
    assert file_con.execute("SELECT count(*) FROM jobs").fetchone() == (4,)
    file_con.close()


def test_real_sacct_capture_matches_an_independent_count(tmp_path):
    """The unedited Slurm 22.05 capture (fixtures/README.md): every check passes, nothing is quarantined,
    and the jobs of its day equal a plain reading of the text."""
    from pathlib import Path

    from slurm_assets_tests.defs.history import expected_jobs

    text = (Path(__file__).resolve().parents[2] / "fixtures" / "sacct_22.05_alpha.psv").read_bytes()
    day = text.splitlines()[1].split(b"|")[13][:10].decode()  # Submit of the first job
    land(tmp_path, "alpha", day, text, at(day + "T23:59:00"))
    result = run_range(tmp_path, day, day)
    assert result.success
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "jobs_keys_unique": True,
        "jobs_durations_non_negative": True,
        "quarantine_share_below_threshold": True,
        "usage_matches_jobs": True,
    }
    assert (
        not paths.partition_file(tmp_path, "quarantine", "alpha", day).exists()
        or pq.read_table(paths.partition_file(tmp_path, "quarantine", "alpha", day)).num_rows == 0
    )
    jobs = pq.read_table(paths.partition_file(tmp_path, "jobs", "alpha", day)).to_pylist()
    got = {
        (j["job_id_raw"], j["submit_time"].strftime("%Y-%m-%dT%H:%M:%S")): (j["cpu_hours"], j["gpu_hours"])
        for j in jobs
    }
    expected = expected_jobs(text.decode(), day)
    assert sorted(got) == sorted(expected)
    for key, (cpu, gpu) in expected.items():
        assert got[key][0] == pytest.approx(cpu) and got[key][1] == pytest.approx(gpu), key


def test_capacity_from_the_newest_inventory_of_the_day(tmp_path):
    node = {
        "node": "vm",
        "partitions": ["cpu", "gpu"],
        "cpus": 16,
        "mem_bytes": 16 * 2**30,
        "gpus": {"a100": 2, "v100": 2},
        "state": "IDLE",
    }
    old = {"collected_at": "2024-05-01T06:00:00Z", "nodes": [{**node, "cpus": 8}]}
    new = {"collected_at": "2024-05-02T00:30:00Z", "nodes": [node]}
    text = render_window(HISTORY["alpha"], "2024-05-01", COLLECTED)
    land(tmp_path, "alpha", "2024-05-01", text, COLLECTED, inventory=new)
    land(
        tmp_path,
        "alpha",
        "2024-05-01",
        render_window(HISTORY["alpha"], "2024-05-01", at("2024-05-01T06:00:00")),
        at("2024-05-01T06:00:00"),
        inventory=old,
    )
    assert run_range(tmp_path, "2024-05-01", "2024-05-01").success
    capacity = pq.read_table(paths.partition_file(tmp_path, "capacity_daily", "alpha", "2024-05-01")).to_pylist()
    by_partition = {c["partition"]: c for c in capacity}
    assert set(by_partition) >= {"cpu", "gpu"}
    assert by_partition["cpu"]["cpus"] == 16 and by_partition["cpu"]["cpu_hours_available"] == 16 * 24
