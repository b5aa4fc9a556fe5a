"""Protects the landing zone: drops verified, stored once, listed only when complete."""

import gzip
import io
import json

import pytest

from slurm_assets.storage import landing
from slurm_assets_tests import drops

TEXT = b"JobID|JobIDRaw|State\n1|1|COMPLETED\n2|2|FAILED\n"


def make_drop(text: bytes = TEXT, **overrides) -> tuple[dict, bytes]:
    return drops.make_drop(text, **{"fields": ["JobID", "JobIDRaw", "State"], "source": "drop", **overrides})


def test_digest_matches_manifest():
    manifest, gz = make_drop()
    digest = landing.digest_gzip_text(io.BytesIO(gz), 10_000)
    assert (digest.sha256, digest.rows, digest.header) == (manifest["sha256"], 2, "JobID|JobIDRaw|State")


def test_digest_stops_a_gzip_bomb_at_the_limit():
    bomb = gzip.compress(b"\0" * 50_000_000, mtime=0)
    with pytest.raises(landing.DropFormatError, match="exceeds the limit"):
        landing.digest_gzip_text(io.BytesIO(bomb), 1_000_000)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"not gzip at all", "not valid gzip"),  # plain bytes
        (gzip.compress(TEXT)[:-12], "truncated"),  # transfer cut short
    ],
)
def test_digest_refuses_bad_gzip(data, message):
    with pytest.raises(landing.DropFormatError, match=message):
        landing.digest_gzip_text(io.BytesIO(data), 10_000)


def test_same_drop_is_stored_once(tmp_path):
    manifest, gz = make_drop()
    first = landing.store_drop(tmp_path, manifest, gz)
    second = landing.store_drop(tmp_path, manifest, gz)
    assert first == (manifest["sha256"][:16], False)
    assert second == (manifest["sha256"][:16], True)
    (ref,) = landing.list_drops(tmp_path)
    assert landing.read_drop_text(ref) == TEXT
    assert ref.manifest()["sha256"] == manifest["sha256"]


def test_incomplete_drop_is_not_listed(tmp_path):
    manifest, gz = make_drop()
    landing.store_drop(tmp_path, manifest, gz)
    (ref,) = landing.list_drops(tmp_path)
    ref.manifest_path.unlink()
    assert landing.list_drops(tmp_path) == []


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"cluster": "../etc"}, "invalid cluster name"),  # traversal in the manifest
        ({"day": "2024-02-30"}, "invalid day"),  # impossible date
        ({"rows": "2"}, "'rows' has type str"),  # wrong type
        ({"format": "other/9"}, "format"),  # unknown format
        ({"sha256": "xyz"}, "64 lowercase hex"),  # bad digest
        ({"source": "carrier-pigeon"}, "source"),  # unknown source
    ],
)
def test_bad_manifests_are_refused_with_the_key_named(overrides, message):
    manifest, _ = make_drop(**overrides)
    with pytest.raises(landing.DropFormatError, match=message):
        landing.validate_manifest(manifest)


def test_drop_stream_round_trip():
    m1, gz1 = make_drop()
    m2, gz2 = make_drop(TEXT + b"3|3|TIMEOUT\n", day="2024-05-02")
    stream = io.BytesIO(json.dumps(m1).encode() + b"\n" + gz1 + json.dumps(m2).encode() + b"\n" + gz2)
    got = list(landing.iter_drop_stream(stream))
    assert [(m["day"], g) for m, g in got] == [("2024-05-01", gz1), ("2024-05-02", gz2)]


def test_truncated_drop_stream_says_so():
    manifest, gz = make_drop()
    stream = io.BytesIO(json.dumps(manifest).encode() + b"\n" + gz[:5])
    with pytest.raises(landing.DropFormatError, match="truncated transfer"):
        list(landing.iter_drop_stream(stream))
