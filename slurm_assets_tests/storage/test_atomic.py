"""Protects atomic writes: a failed write leaves the old file and no temp files behind."""

import pytest

from slurm_assets.storage.atomic import atomic_writer, write_bytes_atomic


def test_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    write_bytes_atomic(target, b"old")
    write_bytes_atomic(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]


def test_failed_write_keeps_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "f.bin"
    write_bytes_atomic(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as fh:
            fh.write(b"half")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
