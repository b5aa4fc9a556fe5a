"""Protects the receiver's fast paths in the landing zone (bench/README.md item on scenario 2).

``digest_gzip_text`` decompresses with ISA-L but must accept and refuse exactly what zlib does, with
zlib's words; ``store_drop_file`` moves a spooled file into place; stores of one cluster run their
fsyncs outside the lock, and a manifest whose data file is missing is not a stored drop.
"""

import gzip
import io
import json
import os
import threading
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slurm_assets.storage import landing
from slurm_assets.storage.landing import digest as landing_digest
from slurm_assets_tests import drops

TEXT = drops.sacct_text(40)
GZ = gzip.compress(TEXT, mtime=0)


def zlib_only(data: bytes, limit: int = 10_000_000):
    """The outcome of the zlib-only digest (what the receiver did before ISA-L): digest or (type, message)."""
    try:
        return landing_digest._digest(io.BytesIO(data), limit, zlib, fast=False)
    except landing.DropFormatError as err:
        return type(err).__name__, str(err)


def fast(data: bytes, limit: int = 10_000_000):
    try:
        return landing.digest_gzip_text(io.BytesIO(data), limit)
    except landing.DropFormatError as err:
        return type(err).__name__, str(err)


def flip(data: bytes, index: int, mask: int) -> bytes:
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


@pytest.mark.parametrize(
    "name, data",
    [
        ("bad crc32", flip(GZ, len(GZ) - 6, 1)),
        ("bad length", flip(GZ, len(GZ) - 2, 1)),
        ("reserved header flag", flip(GZ, 3, 0x80)),  # ISA-L alone would accept this one
        ("trailing junk", GZ + b"junk"),  # ISA-L alone calls this truncated
        ("corrupt deflate", GZ[:10] + bytes(len(GZ) - 10)),
        ("not gzip", b"plain text, not gzip\n"),
        ("bad method", GZ[:2] + b"\x07" + GZ[3:]),
    ],
)
def test_corrupt_gzip_is_refused_in_zlibs_words(name, data):
    with pytest.raises(zlib.error) as zerr:
        d = zlib.decompressobj(wbits=31)
        rest = data
        while rest:  # the same member loop as the digest: trailing bytes are a new member
            d.decompress(rest)
            rest = d.unused_data
            d = zlib.decompressobj(wbits=31) if rest else d
    with pytest.raises(landing.DropFormatError) as ours:
        landing.digest_gzip_text(io.BytesIO(data), 10_000_000)
    assert str(ours.value) == f"drop data is not valid gzip ({zerr.value})"


def test_truncated_and_empty_gzip_keep_their_messages():
    assert fast(GZ[:-3]) == ("DropFormatError", "drop data is truncated gzip")
    assert fast(b"") == ("DropFormatError", "drop data is not valid gzip")


def test_concatenated_members_and_the_text_limit_as_before():
    two = gzip.compress(TEXT[:500], mtime=0) + gzip.compress(TEXT[500:], mtime=0)
    digest = landing.digest_gzip_text(io.BytesIO(two), 10_000_000)
    assert digest == landing.digest_gzip_text(io.BytesIO(GZ), 10_000_000) == zlib_only(GZ)
    assert digest.rows == 40 and digest.size == len(TEXT)
    assert (
        fast(GZ, len(TEXT) - 1)
        == zlib_only(GZ, len(TEXT) - 1)
        == ("DropTooLargeError", f"decompressed drop exceeds the limit of {len(TEXT) - 1} bytes")
    )


def test_a_text_of_many_steps_gets_the_same_digest_and_limit():
    big = TEXT * 300  # ~1.3 MB: several read and decompress steps
    gz = gzip.compress(big, mtime=0)
    whole = fast(gz)
    assert whole == zlib_only(gz) and whole.rows == big.count(b"\n") - 1 and whole.size == len(big)
    assert fast(gz, len(big) // 2) == zlib_only(gz, len(big) // 2)
    assert fast(gz[:-100]) == zlib_only(gz[:-100]) == ("DropFormatError", "drop data is truncated gzip")


def test_a_non_seekable_stream_is_digested_with_zlib():
    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self.inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self.inner.readinto(b)

    assert landing.digest_gzip_text(Pipe(GZ), 10_000_000) == zlib_only(GZ)


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(
        [
            GZ,
            gzip.compress(TEXT, compresslevel=1, mtime=0),
            gzip.compress(b"", mtime=0),
            GZ + gzip.compress(b"x|y\n", mtime=0),
        ]
    ),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
    limit=st.sampled_from([10_000_000, 100, len(TEXT)]),
)
def test_any_damaged_stream_gets_the_zlib_answer(base, edits, cut, limit):
    data = bytearray(base)
    for index, mask in edits:
        data[index % len(data)] ^= mask
    data = bytes(data[:cut] if cut is not None else data)
    assert fast(data, limit) == zlib_only(data, limit)


def test_store_drop_file_moves_the_spooled_file_into_place(tmp_path):
    manifest, gz = drops.make_drop(TEXT)
    spool = tmp_path / "landing" / ".incoming" / "upload-1.part"
    spool.parent.mkdir(parents=True)
    spool.write_bytes(gz)
    assert landing.store_drop_file(tmp_path, manifest, spool) == (manifest["sha256"][:16], False)
    assert not spool.exists()
    (ref,) = landing.list_drops(tmp_path)
    assert ref.data_path.read_bytes() == gz
    assert json.loads(ref.manifest_path.read_text()) == manifest
    assert sorted(p.name for p in ref.data_path.parent.iterdir()) == sorted(
        [ref.data_path.name, ref.manifest_path.name]
    )
    spool.write_bytes(gz)  # the same drop again: a duplicate, the spool file is left to the caller
    assert landing.store_drop_file(tmp_path, manifest, spool) == (manifest["sha256"][:16], True)
    assert spool.exists()


def test_a_manifest_without_its_data_file_is_not_a_stored_drop(tmp_path):
    manifest, gz = drops.make_drop(TEXT)
    landing.store_drop(tmp_path, manifest, gz)
    (ref,) = landing.list_drops(tmp_path)
    ref.data_path.unlink()  # as after a power loss between the two renames
    assert landing.list_drops(tmp_path) == []
    assert landing.store_drop(tmp_path, manifest, gz) == (manifest["sha256"][:16], False)
    (again,) = landing.list_drops(tmp_path)
    assert again.data_path.read_bytes() == gz


def test_concurrent_copies_of_one_drop_store_it_once(tmp_path):
    manifest, gz = drops.make_drop(TEXT)
    others = [drops.make_drop(drops.sacct_text(3, tag=str(i)))[0:2] for i in range(6)]
    results: list = []
    barrier = threading.Barrier(10)

    def store(m, g):
        barrier.wait()
        results.append((m["sha256"][:16], landing.store_drop(tmp_path, m, g)[1]))

    work = [(manifest, gz)] * 4 + others
    threads = [threading.Thread(target=store, args=w) for w in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    same = [dup for drop_id, dup in results if drop_id == manifest["sha256"][:16]]
    assert sorted(same) == [False, True, True, True]
    refs = landing.list_drops(tmp_path)
    assert len(refs) == 7
    for ref in refs:
        assert landing.digest_gzip_text(open(ref.data_path, "rb"), 1 << 20).sha256 == ref.manifest()["sha256"]
    leftovers = [p for p in (tmp_path / "landing").rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    assert leftovers == []
    assert sorted(os.listdir(tmp_path / "landing" / "alpha")) == [".lock", "2024-05-01"]
