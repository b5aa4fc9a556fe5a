"""Protects scenario 2's limit (bench/fsync_write.py): it writes exactly the bytes the receiver stores
for each uploaded drop, as the same number of files (manifest line and gzip data apart). No timing."""

import json

from bench import fsync_write
from bench.upload import drop_bodies
from slurm_assets.storage import landing
from slurm_assets_tests import drops


def test_limit_writes_each_drop_as_its_two_files(tmp_path):
    data_dir = tmp_path / "data"
    for day in ("2024-05-01", "2024-05-02"):
        manifest, gz = drops.make_drop(drops.sacct_text(5, day=day), day=day)
        landing.store_drop(data_dir, manifest, gz)
    out = tmp_path / "out"
    assert fsync_write.main([str(data_dir), str(out)]) == 0
    bodies = drop_bodies(data_dir)
    assert sorted(p.name for p in out.iterdir()) == ["0.manifest.json", "0.psv.gz", "1.manifest.json", "1.psv.gz"]
    for i, ref in enumerate(landing.list_drops(data_dir)):
        assert (out / f"{i}.psv.gz").read_bytes() == ref.data_path.read_bytes()
        assert json.loads((out / f"{i}.manifest.json").read_bytes())["sha256"] == ref.manifest()["sha256"]
    assert sum(p.stat().st_size for p in out.iterdir()) == sum(len(b) for b in bodies)
