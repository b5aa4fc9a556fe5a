"""Protects the dashboard's reading of an s3:// warehouse (moto server): the data version is one listing of the
bucket and changes with every write; the mirror fetches only new or changed objects and drops removed ones;
the dashboard's copy over the mirror equals the one over the same files on disk, before and after a change."""

import datetime as dt

import pyarrow as pa

from slurm_assets.storage import dashboard_store, fs, mirror, paths, warehouse
from slurm_assets_tests.streamlit_app.s3_warehouse import upload
from slurm_assets_tests.streamlit_app.synthetic import build_warehouse

COUNTS = "SELECT (SELECT count(*) FROM jobs), (SELECT round(sum(cpu_hours), 6) FROM usage_daily), (SELECT count(*) FROM drops)"


def test_mirror_and_store_follow_the_bucket(tmp_path, s3_bucket):
    local = tmp_path / "local"
    build_warehouse(local, last_day=dt.date(2026, 3, 31), days=4)
    upload(local, s3_bucket.url)
    root = fs.root(s3_bucket.url)
    version = dashboard_store.data_version(root)
    assert version[0] == dashboard_store.data_version(local)[0] > 0
    assert version[2] == dashboard_store.data_version(local)[2]

    store = dashboard_store.Store(s3_bucket.url, tmp_path / "cache")
    on_disk = dashboard_store.Store(local, None)
    assert store.at(version).execute(COUNTS).fetchall() == on_disk.at(1).execute(COUNTS).fetchall()
    assert mirror.sync(root, store.root) == {"fetched": 0, "removed": 0}  # nothing changed since

    # a day rewritten (a reprocessed partition) and another removed, in the bucket and on disk alike
    rows = warehouse.read_partition(local, "usage_daily", "alpha", "2026-03-31")
    rows = rows.set_column(
        rows.schema.get_field_index("cpu_hours"),
        "cpu_hours",
        pa.array([v * 2 for v in rows["cpu_hours"].to_pylist()], pa.float64()),
    )
    warehouse.write_partition(local, "usage_daily", "alpha", "2026-03-31", rows)
    warehouse.remove_partition(local, "drops", "beta", "2026-03-30")
    for table, cluster, day in (("usage_daily", "alpha", "2026-03-31"), ("drops", "beta", "2026-03-30")):
        path = paths.partition_file(root, table, cluster, day)
        path.fs.rm(path.path)
    upload_one = paths.partition_file(local, "usage_daily", "alpha", "2026-03-31")
    fs.put_file(paths.partition_file(root, "usage_daily", "alpha", "2026-03-31"), upload_one)

    changed = dashboard_store.data_version(root)
    assert changed != version and changed[0] == version[0] - 1
    assert mirror.sync(root, store.root) == {"fetched": 1, "removed": 1}  # only what changed
    on_disk = dashboard_store.Store(local, None)
    assert store.at(changed).execute(COUNTS).fetchall() == on_disk.at(2).execute(COUNTS).fetchall()
    assert not paths.partition_file(store.root, "drops", "beta", "2026-03-30").exists()

    # a later start reuses the mirror and the published copy: nothing is fetched again
    again = dashboard_store.Store(s3_bucket.url, tmp_path / "cache")
    assert again.root == store.root
    assert again.at(changed).execute(COUNTS).fetchall() == on_disk.at(2).execute(COUNTS).fetchall()
    assert mirror.sync(root, again.root) == {"fetched": 0, "removed": 0}
