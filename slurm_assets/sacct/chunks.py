"""A big drop's text as pieces of whole jobs, so parsing memory does not follow the drop's size (issue 18).

The parser holds about 7x the text it is given (field strings, typed columns, DuckDB);
a 1 GiB drop read at once peaked at 7.4 GB. ``iter_chunks`` streams the text and cuts it,
after about ``chunk_bytes``, before a line that starts a new job (its JobIDRaw, or JobID,
has no ``.``), so a job's step lines stay in the job's piece and fold into it as they
would in the whole text. Each piece is the header line plus whole lines, with the line
number its first body line has in the drop, so quarantine rows keep the drop's numbers.
A text with no such line for 4 pieces' worth (at least 4 MiB: only steps, or garbage) is cut at a line end.
"""

from collections.abc import Iterator
from typing import BinaryIO

from slurm_assets.sacct import read

# A header line longer than this is not sacct's: the piece is cut there and the parser quarantines it.
MAX_HEADER_BYTES = 1 << 20
_READ_BYTES = 4 << 20
_FORCE_CUT_FACTOR = 4
_FORCE_CUT_MIN = 4 << 20  # small pieces (tests) are never forced: a job's steps are rarely 4 MiB long


def iter_chunks(stream: BinaryIO, chunk_bytes: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(header + whole lines, header's line number, line number of the piece's first body line)``.

    The text is cleaned as the parser cleans it (``read.clean_bytes``: UTF-8, ``\\n`` line ends),
    piece by piece; cuts fall after a ``\\n``, so no character or ``\\r\\n`` is split.
    """
    header, header_no, pending = _header(stream)
    if header is None:
        return
    key = _key_position(header)
    first_body = header_no + 1
    while True:
        data = stream.read(min(_READ_BYTES, chunk_bytes))
        pending += data
        while pending and (len(pending) >= chunk_bytes or not data):
            cut = _cut(pending, key, chunk_bytes) if data else len(pending) - 1
            if cut is None:
                break  # read more
            piece, pending = _piece(header, pending[: cut + 1]), pending[cut + 1 :]
            yield piece, header_no, first_body
            first_body += piece.count(b"\n") - 1
        if not data:
            return


def _header(stream: BinaryIO) -> tuple[bytes | None, int, bytes]:
    """The first non-empty line (cleaned, without its line end), its 1-based number, and what followed it in
    the same read (a lone ``\r`` ends a line too); None for a text without one."""
    line_no = 0
    while True:
        line = stream.readline(MAX_HEADER_BYTES)
        if not line:
            return None, 0, b""
        cleaned = read.clean_bytes(line)
        stripped = cleaned.lstrip(b"\n")
        line_no += len(cleaned) - len(stripped)
        if stripped:
            end = stripped.find(b"\n")
            if end < 0:
                return stripped, line_no + 1, b""
            return stripped[:end], line_no + 1, stripped[end + 1 :]


def _key_position(header: bytes) -> int | None:
    names = [n.strip().lower() for n in header.decode("utf-8", "replace").split("|")]
    for name in ("jobidraw", "jobid"):
        if name in names:
            return names.index(name)
    return None


def _starts_job(line: bytes, key: int | None) -> bool:
    if key is None:
        return True
    fields = line.split(b"|", key + 1)
    return len(fields) > key and b"." not in fields[key]


def _cut(text: bytes, key: int | None, target: int) -> int | None:
    """Index of the ``\n`` to cut after: the last one before ``target`` followed by a complete line that starts
    a job, else the first such one after it; past 4 targets without one, the last line end; None: read more."""
    nl = text.rfind(b"\n", 0, target)
    while nl >= 0:
        end = text.find(b"\n", nl + 1)
        if end >= 0 and _starts_job(text[nl + 1 : end], key):
            return nl
        nl = text.rfind(b"\n", 0, nl)
    nl = text.find(b"\n", target)
    while nl >= 0:
        end = text.find(b"\n", nl + 1)
        if end < 0:
            break
        if _starts_job(text[nl + 1 : end], key):
            return nl
        nl = end
    force = len(text) >= max(_FORCE_CUT_FACTOR * target, _FORCE_CUT_MIN)
    return text.rfind(b"\n") if force and b"\n" in text else None


def _piece(header: bytes, lines: bytes) -> bytes:
    body = read.clean_bytes(lines)
    return header + b"\n" + body + (b"" if body.endswith(b"\n") else b"\n")
