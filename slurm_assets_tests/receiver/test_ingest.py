"""Protects ``receiver.ingest.spool_body``: however the body is chunked, the manifest line is split off
exactly as ``read_manifest_line`` reads it and the spool file holds the gzip bytes only (the spool
file becomes the stored data file), and the size limit still answers 413 with nothing left behind."""

import asyncio
import io
import json

import pytest

from slurm_assets.receiver import ingest
from slurm_assets.storage import landing
from slurm_assets_tests import drops


def spool(body: bytes, sizes: list[int], tmp_path, limit: int = 1 << 20):
    async def chunks():
        i = 0
        for n in sizes:
            if i >= len(body):
                return
            yield body[i : i + n]
            i += n
        if i < len(body):
            yield body[i:]

    return asyncio.run(ingest.spool_body(chunks(), tmp_path, limit))


@pytest.mark.parametrize("sizes", [[1] * 2000, [7, 3, 1000], [65536], [0, 5, 0, 100]], ids=str)
def test_head_is_the_manifest_line_and_the_spool_the_gzip(tmp_path, sizes):
    manifest, gz = drops.make_drop()
    line = json.dumps(manifest).encode() + b"\n"
    head, path = spool(line + gz, sizes, tmp_path)
    assert head == line
    assert path.read_bytes() == gz
    assert path.parent == ingest.incoming_dir(tmp_path)
    assert landing.read_manifest_line(io.BytesIO(head)) == manifest


def test_a_line_without_newline_stays_whole_in_the_head(tmp_path):
    head, path = spool(b"{no newline at all", [4, 4, 100], tmp_path)
    assert head == b"{no newline at all" and path.read_bytes() == b""
    with pytest.raises(landing.DropFormatError, match="unterminated"):
        landing.read_manifest_line(io.BytesIO(head))


def test_an_overlong_manifest_line_is_cut_where_readline_cuts_it(tmp_path, monkeypatch):
    monkeypatch.setattr(landing, "MAX_MANIFEST_BYTES", 10)
    body = b"0123456789abcdef\nrest"
    head, path = spool(body, [3, 3, 3, 3, 3, 100], tmp_path)
    assert head == io.BytesIO(body).readline(11) == b"0123456789a"
    assert path.read_bytes() == b"bcdef\nrest"


def test_a_body_over_the_limit_is_413_and_leaves_no_spool_file(tmp_path):
    with pytest.raises(ingest.IngestError) as err:
        spool(b"x\n" + b"y" * 5000, [1000] * 6, tmp_path, limit=4000)
    assert err.value.status == 413
    assert list(ingest.incoming_dir(tmp_path).iterdir()) == []
