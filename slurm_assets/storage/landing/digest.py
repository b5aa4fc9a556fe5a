"""Streaming through a drop's gzip text: sha256, rows and size, bounded whatever the input (gzip bombs)."""

import hashlib
import zlib
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from isal import isal_zlib

from slurm_assets.storage.landing.drop_format import DropFormatError, DropTooLargeError


@dataclass(frozen=True)
class TextDigest:
    """What streaming through a drop's decompressed text found."""

    sha256: str
    rows: int
    size: int
    header: str


def digest_gzip_text(gz: BinaryIO, max_text_bytes: int) -> TextDigest:
    """Stream-decompress ``gz``: sha256, data rows (lines after the header) and size of the text.

    Raises DropFormatError for corrupt gzip or text larger than ``max_text_bytes``
    (a gzip bomb never gets further than that limit in memory or time).

    Decompression uses ISA-L (``isal``, faster than zlib: bench/README.md "Figures behind the code"); whenever it fails in any way
    (corrupt or truncated data, over the limit) the stream is checked again from the start with
    zlib, so every refusal and its message are zlib's, as readers (``gzip``) decode with zlib.
    ISA-L accepts reserved gzip header flags that zlib refuses: those members go to zlib too.
    """
    start = gz.tell() if gz.seekable() else None
    if start is not None:
        try:
            return _digest(gz, max_text_bytes, isal_zlib, fast=True)
        except Exception:  # noqa: BLE001 - any failure: let zlib decide (and word the refusal)
            gz.seek(start)
    return _digest(gz, max_text_bytes, zlib, fast=False)


# Read and decompress in 256 KiB steps: with 1 MiB steps every output buffer was fresh memory from
# the kernel (~240k page faults per GB of text, +16% CPU for the whole digest; bench/README.md item 8).
_READ_BYTES = 256 * 1024
_STEP_BYTES = 256 * 1024


class _UseZlib(Exception):
    """A member header ISA-L would judge differently from zlib: decide with zlib."""


def _digest(gz: BinaryIO, max_text_bytes: int, module, fast: bool) -> TextDigest:
    sha = hashlib.sha256()
    decomp = None
    size = lines = 0
    header = b""
    in_header = True
    while True:
        chunk = gz.read(_READ_BYTES)
        if not chunk:
            break
        while True:
            if decomp is None or decomp.eof:
                # A new gzip member (concatenated members are valid gzip). FLG's top 3 bits are reserved.
                if fast and (len(chunk) < 4 or chunk[3] & 0xE0):
                    raise _UseZlib
                decomp = module.decompressobj(wbits=16 + zlib.MAX_WBITS)
            # At most _STEP_BYTES of output per call: memory stays bounded whatever the limit (a bomb
            # with a 2 GiB limit must not allocate 2 GiB at once).
            cap = min(_STEP_BYTES, max_text_bytes + 1 - size)
            try:
                out = decomp.decompress(chunk, cap)
            except module.error as err:
                raise DropFormatError(f"drop data is not valid gzip ({err})") from err
            size += len(out)
            if size > max_text_bytes:
                raise DropTooLargeError(f"decompressed drop exceeds the limit of {max_text_bytes} bytes")
            sha.update(out)
            lines += int(np.count_nonzero(np.frombuffer(out, np.uint8) == 10))  # 3x bytes.count, GIL released
            if in_header:
                header += out[: 65537 - len(header)]
                if b"\n" in header or len(header) > 65536:
                    header = header.split(b"\n", 1)[0]
                    in_header = False
            if decomp.eof:
                chunk = decomp.unused_data
                if not chunk:
                    break
            else:
                chunk = decomp.unconsumed_tail
                if not chunk and len(out) < cap:
                    break  # input used up and no output pending: read more
    eof = decomp is not None and decomp.eof
    if not eof and size == 0:
        raise DropFormatError("drop data is not valid gzip")
    if not eof:
        raise DropFormatError("drop data is truncated gzip")
    rows = max(lines - 1, 0) if size else 0
    return TextDigest(sha.hexdigest(), rows, size, header.decode("utf-8", "replace").rstrip("\r"))
