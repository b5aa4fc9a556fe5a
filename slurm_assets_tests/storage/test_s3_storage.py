"""The landing zone, state files and warehouse on an ``s3://`` data root, against a real moto S3 server.

A drop counts only once its manifest object exists (written last); the same drop is stored once, also when
two writers race; a corrected copy replaces an unusable manifest; a data object without a manifest is
never listed and is swept once old; Parquet files are objects (no folder objects) that DuckDB reads
through the registered fsspec file system.
"""

import json
import threading

import pyarrow as pa
import pytest

from slurm_assets.sacct.catalog import TABLE_SCHEMAS
from slurm_assets.storage import fs, landing, paths, state, warehouse
from slurm_assets_tests.drops import make_drop, sacct_text


def test_store_list_and_read_a_drop(s3_bucket):
    manifest, gz = make_drop()
    drop_id, duplicate = landing.store_drop(s3_bucket.url, manifest, gz)
    assert not duplicate
    assert s3_bucket.keys() == [
        f"landing/alpha/2024-05-01/{drop_id}.manifest.json",
        f"landing/alpha/2024-05-01/{drop_id}.psv.gz",
    ]
    [ref] = landing.list_drops(s3_bucket.url)
    assert (ref.cluster, ref.day, ref.drop_id) == ("alpha", "2024-05-01", drop_id)
    assert landing.list_drops(s3_bucket.url, day="2024-05-01") == [ref]
    assert landing.list_drops(s3_bucket.url, day="2024-05-02") == []
    assert landing.read_drop_text(ref) == sacct_text()
    assert ref.manifest()["sha256"] == manifest["sha256"]
    assert landing.store_drop(s3_bucket.url, manifest, gz) == (drop_id, True)  # idempotent
    assert len(s3_bucket.keys()) == 2


def test_a_drop_without_its_manifest_object_is_not_counted(s3_bucket):
    manifest, gz = make_drop()
    data_obj, manifest_obj = landing.drop_paths(
        s3_bucket.url, "alpha", "2024-05-01", landing.drop_id_for(manifest["sha256"])
    )
    fs.put_bytes(data_obj, gz)  # a writer that died between its two PUTs
    assert landing.list_drops(s3_bucket.url) == []
    assert landing.sweep_stale(s3_bucket.url) == []  # young: maybe a store in progress
    assert landing.sweep_stale(s3_bucket.url, older_than_s=-1) == [data_obj]
    assert s3_bucket.keys() == []
    assert landing.store_drop(s3_bucket.url, manifest, gz)[1] is False  # sent again: stored whole
    assert len(landing.list_drops(s3_bucket.url)) == 1 and manifest_obj.exists()


def test_same_drop_from_racing_writers_is_stored_once(s3_bucket):
    manifest, gz = make_drop()
    answers, barrier = [], threading.Barrier(6)

    def store():
        barrier.wait()
        answers.append(landing.store_drop(s3_bucket.url, dict(manifest), gz))

    threads = [threading.Thread(target=store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(dup for _, dup in answers) == [False, True, True, True, True, True]
    assert len(landing.list_drops(s3_bucket.url)) == 1


def test_a_corrected_copy_replaces_an_unusable_manifest(s3_bucket):
    manifest, gz = make_drop()
    data_obj, manifest_obj = landing.drop_paths(
        s3_bucket.url, "alpha", "2024-05-01", landing.drop_id_for(manifest["sha256"])
    )
    fs.put_bytes(data_obj, gz)
    fs.put_bytes(manifest_obj, b"{not json")  # copied in by hand, quarantined whole by the pipeline
    assert landing.store_drop(s3_bucket.url, manifest, gz)[1] is False
    assert json.loads(manifest_obj.read_bytes())["sha256"] == manifest["sha256"]


def test_a_stored_drop_file_is_uploaded_and_left_for_the_caller(s3_bucket, tmp_path):
    manifest, gz = make_drop()
    spool = tmp_path / "upload-1.part"
    spool.write_bytes(gz)
    drop_id, duplicate = landing.store_drop_file(s3_bucket.url, manifest, spool)
    assert not duplicate and spool.exists()
    assert landing.read_drop_text(landing.list_drops(s3_bucket.url)[0]) == sacct_text()


def test_state_files_on_s3(s3_bucket):
    assert state.read_processed(s3_bucket.url) == {}
    state.mark_built(s3_bucket.url, {"2024-05-01": "abc", "2024-05-02": "def"})
    state.promote_built(s3_bucket.url, ["2024-05-01"])
    assert state.read_processed(s3_bucket.url) == {"2024-05-01": "abc"}
    state.record_quarantined(s3_bucket.url, ["2024-05-01"], {"alpha/2024-05-01/x": "f1"})
    assert state.read_quarantined(s3_bucket.url) == {"alpha/2024-05-01/x": "f1"}
    assert set(s3_bucket.keys("state/")) == {
        "state/built_days.json",
        "state/processed_days.json",
        "state/quarantined_drops.json",
    }  # no lock or temp objects
    # processed days whose drops files are gone are not processed (one listing on S3)
    assert state.processed_days(s3_bucket.url, [("alpha", "2024-05-01", "x")]) == {}
    warehouse.write_partition(s3_bucket.url, "drops", "alpha", "2024-05-01", TABLE_SCHEMAS["drops"].empty_table())
    assert state.processed_days(s3_bucket.url, [("alpha", "2024-05-01", "x")]) == {"2024-05-01": "abc"}


def _jobs(n: int) -> pa.Table:
    schema = TABLE_SCHEMAS["jobs"]
    columns = {f.name: pa.nulls(n, f.type) for f in schema}
    columns["cluster"] = pa.array(["alpha"] * n)
    columns["job_id_raw"] = pa.array([str(i) for i in range(n)])
    return pa.table(columns, schema=schema)


def test_warehouse_files_and_views_on_s3(s3_bucket, tmp_path):
    for day, n in (("2024-05-01", 3), ("2024-05-02", 2)):
        warehouse.write_partition(s3_bucket.url, "jobs", "alpha", day, _jobs(n))
        warehouse.write_partition(tmp_path, "jobs", "alpha", day, _jobs(n))
    keys = s3_bucket.keys()
    assert keys == [
        "warehouse/jobs/cluster=alpha/date=2024-05-01/part-0.parquet",
        "warehouse/jobs/cluster=alpha/date=2024-05-02/part-0.parquet",
    ]  # no folder objects
    remote = paths.partition_file(s3_bucket.url, "jobs", "alpha", "2024-05-01")
    assert remote.read_bytes() == paths.partition_file(tmp_path, "jobs", "alpha", "2024-05-01").read_bytes()
    assert warehouse.read_partition(s3_bucket.url, "jobs", "alpha", "2024-05-01").num_rows == 3
    assert warehouse.read_partition(s3_bucket.url, "jobs", "alpha", "2024-05-03").num_rows == 0
    assert warehouse.clusters_with_files(s3_bucket.url, "jobs", "2024-05-02") == {"alpha"}
    con = warehouse.connect_readonly(s3_bucket.url)
    assert con.execute("SELECT count(*) FROM jobs").fetchone() == (5,)
    assert con.execute("SELECT count(*) FROM usage_daily").fetchone() == (0,)  # no files: typed, empty
    warehouse.remove_partition(s3_bucket.url, "jobs", "alpha", "2024-05-02")
    assert warehouse.connect_readonly(s3_bucket.url).execute("SELECT count(*) FROM jobs").fetchone() == (3,)
    assert warehouse.sweep_stale(s3_bucket.url) == []


def test_the_duckdb_file_of_an_s3_root_is_local(s3_bucket, tmp_path, monkeypatch):
    from slurm_assets.storage import duckdb as duck

    monkeypatch.setenv("SLURM_USAGE_LOCAL_DIR", str(tmp_path / "local"))
    warehouse.write_partition(s3_bucket.url, "jobs", "alpha", "2024-05-01", _jobs(2))
    assert paths.duckdb_path(s3_bucket.url) == tmp_path / "local" / paths.DUCKDB_FILE
    assert duck.publish_views(s3_bucket.url)["jobs"] == 2
    assert paths.duckdb_path(s3_bucket.url).exists()
    assert not any(k.endswith(".duckdb") for k in s3_bucket.keys())
    con = duck.connect_writer(paths.duckdb_path(s3_bucket.url))
    try:
        warehouse.register_filesystem(con, s3_bucket.url)  # the views read s3:// through it
        assert con.execute("SELECT count(*) FROM jobs").fetchone() == (2,)
    finally:
        con.close()


@pytest.mark.parametrize("bad", ["s3://", "s3:///x"])
def test_an_s3_root_without_a_bucket_is_refused(bad):
    with pytest.raises(fs.StorageError):
        paths.landing_root(bad)
