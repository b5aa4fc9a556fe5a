"""storage/fs.py: a data root on local disk or on S3 (a real moto server, slurm_assets_tests/s3.py)."""

from pathlib import Path

import pytest

from slurm_assets import settings
from slurm_assets.storage import fs, paths


def test_local_roots_stay_paths(tmp_path):
    assert fs.root(tmp_path) is tmp_path
    assert fs.root(str(tmp_path)) == tmp_path and isinstance(fs.root(str(tmp_path)), Path)
    assert not fs.is_remote(tmp_path) and not fs.is_remote(str(tmp_path))
    assert fs.resolve("rel/dir") == Path("rel/dir").resolve()
    assert paths.landing_day_dir(tmp_path, "alpha", "2026-03-01") == tmp_path / "landing" / "alpha" / "2026-03-01"
    fs.check_root(tmp_path)  # local roots: nothing to check


def test_s3_root_lists_reads_and_writes_objects(s3_bucket):
    root = fs.root(s3_bucket.url)
    assert fs.is_remote(s3_bucket.url) and fs.is_remote(root)
    assert fs.key(root) == f"{s3_bucket.name}/data" and str(root) == s3_bucket.url
    fs.check_root(root)
    manifest = paths.landing_day_dir(s3_bucket.url, "alpha", "2026-03-01") / "x.manifest.json"
    assert not manifest.exists()
    fs.put_bytes(manifest, b"{}", exclusive=True)
    with pytest.raises(FileExistsError):  # the manifest is the commit point: a second one never replaces it
        fs.put_bytes(manifest, b'{"other": 1}', exclusive=True)
    assert manifest.read_bytes() == b"{}"
    assert paths.landing_cluster_day(manifest.parent) == ("alpha", "2026-03-01")
    assert [p.name for p in paths.landing_root(s3_bucket.url).glob("*/*/*.manifest.json")] == ["x.manifest.json"]
    assert s3_bucket.keys() == ["landing/alpha/2026-03-01/x.manifest.json"]  # no folder objects


def test_s3_root_from_settings(s3_bucket, monkeypatch):
    monkeypatch.setenv(settings.DATA_DIR_ENV, s3_bucket.url + "/")
    root = settings.data_dir()
    assert fs.is_remote(root) and str(root) == s3_bucket.url
    assert fs.resolve(settings.ReceiverSettings().data_dir) == root


def test_missing_bucket_says_so(s3_bucket):
    with pytest.raises(fs.StorageError, match="bucket 'no-such-bucket' does not exist at http://127.0.0.1:"):
        fs.check_root(fs.root("s3://no-such-bucket/data"))


def test_unreachable_endpoint_says_so(s3_bucket, monkeypatch):
    from slurm_assets_tests.ports import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(fs.StorageError, match="cannot reach http://127.0.0.1:.*check AWS_ENDPOINT_URL"):
        fs.check_root(fs.root(s3_bucket.url))


def test_s3_root_without_bucket_is_refused():
    with pytest.raises(fs.StorageError, match="names no bucket"):
        fs.root("s3:///prefix")
