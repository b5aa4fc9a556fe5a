"""Protects the clean-up of what killed writers leave (RELIABILITY.md open finding): only dead temp files and
manifest-less data files go; complete drops, lock files, fresh temps and other folders stay."""

import os

from slurm_assets.sacct.catalog import TABLE_SCHEMAS
from slurm_assets.storage import atomic, landing, warehouse
from slurm_assets_tests import drops

TEXT = b"JobID|JobIDRaw|State\n1|1|COMPLETED\n"


def old(path, age_s=2 * 3600):
    """``path`` as a writer killed ``age_s`` ago would have left it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(b"partial")
    t = path.stat().st_mtime - age_s
    os.utime(path, (t, t))
    return path


def test_temp_names_are_the_writers_temp_names(tmp_path):
    with atomic.atomic_writer(tmp_path / "x.parquet") as fh:
        (made,) = [p for p in tmp_path.iterdir() if p.name != "x.parquet"]
        fh.write(b"1")
    assert atomic.is_temp_name(made.name)
    assert atomic.is_temp_name(".tmp-abc.psv.gz")  # the agent's
    for name in (".lock", "x.parquet", "abc.psv.gz", "abc.manifest.json", "upload-1.part", "x.tmp"):
        assert not atomic.is_temp_name(name), name


def test_landing_sweep_removes_only_dead_leftovers(tmp_path):
    manifest, gz = drops.make_drop(TEXT, fields=["JobID", "JobIDRaw", "State"], source="drop")
    drop_id, _ = landing.store_drop(tmp_path, manifest, gz)
    day = tmp_path / "landing" / manifest["cluster"] / manifest["day"]
    stored = [old(day / f"{drop_id}.psv.gz"), old(day / f"{drop_id}.manifest.json")]  # old but complete
    dead = [
        old(day / ".aaaa.psv.gz.x1y2.tmp"),
        old(day / ".aaaa.manifest.json.x1y2.tmp"),
        old(day / ".tmp-q1w2e3.psv.gz"),
        old(day / "bbbb.psv.gz"),
    ]  # the last: data without manifest
    fresh = [day / ".cccc.psv.gz.z9.tmp", day / "dddd.psv.gz"]  # a store in progress right now
    for p in fresh:
        p.write_bytes(b"partial")
    keep = [
        old(tmp_path / "landing" / manifest["cluster"] / ".lock"),
        old(tmp_path / "landing" / ".incoming" / "upload-1.part"),  # the receiver sweeps its own
        old(tmp_path / "landing" / "not a cluster" / "2024-01-01" / ".x.tmp"),
    ]
    removed = landing.sweep_stale(tmp_path)
    assert sorted(removed) == sorted(dead)
    assert all(p.exists() for p in stored + fresh + keep)
    assert [d.drop_id for d in landing.list_drops(tmp_path)] == [drop_id]
    assert landing.sweep_stale(tmp_path) == []  # nothing left to do


def test_warehouse_sweep_removes_dead_temps_at_any_depth(tmp_path):
    written = warehouse.write_partition(tmp_path, "drops", "alpha", "2024-05-01", TABLE_SCHEMAS["drops"].empty_table())
    dead = old(written.parent / f".{written.name}.k3j4.tmp")
    deep = old(tmp_path / "warehouse" / "running_jobs" / "cluster=alpha" / ".part-0.parquet.zz.tmp")
    fresh = written.parent / f".{written.name}.n5.tmp"
    fresh.write_bytes(b"partial")
    assert sorted(warehouse.sweep_stale(tmp_path)) == sorted([dead, deep])
    assert written.exists() and fresh.exists()
