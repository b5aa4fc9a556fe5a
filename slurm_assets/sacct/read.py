"""sacct ``--parsable2`` bytes -> a table of field strings, plus the lines with the wrong field count.

The C++ CSV reader of pyarrow does the splitting (``|`` delimiter, quoting off:
sacct -P never quotes and does not escape ``|``), reading only the fields the
parser uses. Lines whose field count differs from the header are handed back
one by one (a Python loop over malformed lines only) and turned into repair
candidates: a free-text field that may hold the extra ``|``, or consecutive
short lines that a newline inside a field split apart.
"""

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv_csv

from slurm_assets.sacct.fields import FREE_TEXT_FIELDS

_NOT_NEWLINE = re.compile(rb"[^\n]")
# A newline repair joins at most this many consecutive short lines.
_MAX_JOINED_LINES = 20


def clean_bytes(text: bytes | str) -> bytes:
    """Valid UTF-8 (bad bytes -> U+FFFD) without NUL, lines ended by ``\\n`` only (``\\r\\n``, lone ``\\r``)."""
    if isinstance(text, str):
        data = text.encode("utf-8", errors="replace")
    else:
        data = bytes(text)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            data = data.decode("utf-8", errors="replace").encode("utf-8")
    if b"\x00" in data:  # NUL never occurs in sacct output; keep it out of SQL strings
        data = data.replace(b"\x00", "\ufffd".encode())
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data


@dataclass(frozen=True)
class Header:
    """The first non-empty line: field names and where they are."""

    line_no: int  # 1-based
    text: str
    names: tuple[str, ...]
    position: dict  # lower-case name -> index of its first occurrence

    def has(self, field: str) -> bool:
        return field.lower() in self.position

    def index(self, field: str) -> int:
        return self.position[field.lower()]


class Body:
    """The text after the header: a zero-copy buffer; physical line numbers are computed only when needed."""

    def __init__(self, buffer: pa.Buffer, header_line_no: int, has_blank_lines: bool):
        self.buffer = buffer
        self.header_line_no = header_line_no
        self.has_blank_lines = has_blank_lines
        self._bounds = None

    def is_blank(self) -> bool:
        return _NOT_NEWLINE.search(memoryview(self.buffer)) is None

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Start and end offsets of every physical line of the body."""
        if self._bounds is None:
            arr = np.frombuffer(self.buffer, dtype=np.uint8)
            ends = np.flatnonzero(arr == 10)
            if len(arr) and arr[-1] != 10:
                ends = np.append(ends, len(arr))
            starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
            self._bounds = (starts, ends.astype(np.int64))
        return self._bounds

    def nonblank_line_numbers(self) -> np.ndarray:
        starts, ends = self.bounds()
        return self.header_line_no + 1 + np.flatnonzero(ends - starts > 0)

    def line_numbers(self, k: np.ndarray) -> np.ndarray:
        """Physical line numbers of the k-th (1-based) non-empty body lines (the CSV reader's row numbers)."""
        if not self.has_blank_lines:
            return self.header_line_no + k
        return self.nonblank_line_numbers()[k - 1]

    def lines(self, line_nos: list[int]) -> list[str]:
        """The text of the given physical lines."""
        starts, ends = self.bounds()
        view = memoryview(self.buffer)
        return [
            bytes(view[starts[i] : ends[i]]).decode("utf-8", errors="replace")
            for i in (ln - self.header_line_no - 1 for ln in line_nos)
        ]


def split_header(data: bytes) -> tuple[Header, Body] | None:
    """Header and body of cleaned text; None for a text with no non-empty line."""
    start = len(data) - len(data.lstrip(b"\n"))
    if start == len(data):
        return None
    end = data.find(b"\n", start)
    end = len(data) if end < 0 else end
    text = data[start:end].decode("utf-8").lstrip("\ufeff")
    names = tuple(n.strip() for n in text.split("|"))
    position: dict[str, int] = {}
    for i, name in enumerate(names):
        position.setdefault(name.lower(), i)
    header = Header(line_no=start + 1, text=text, names=names, position=position)
    body = Body(pa.py_buffer(data).slice(min(end + 1, len(data))), start + 1, data.find(b"\n\n", end) >= 0)
    return header, body


def read_fields(body: Body, header: Header, fields: list[str]) -> tuple[pa.Table, list[dict]]:
    """Lines with the header's field count -> table(line_no, c_<field> strings for ``fields``);
    the other lines -> dicts (line_no, raw, n). Raises pyarrow.ArrowException on unreadable text."""
    n = len(header.names)
    column_names = [f"f{i}" for i in range(n)]
    include = sorted({header.index(f) for f in fields})
    bad_rows: list[tuple[int, str, int]] = []

    def keep_bad(row) -> str:
        bad_rows.append((row.number, row.text, row.actual_columns))
        return "skip"

    table = pv_csv.read_csv(
        pa.BufferReader(body.buffer),
        read_options=pv_csv.ReadOptions(
            column_names=column_names,
            use_threads=False,  # the row numbers of bad rows are known only single-threaded
            block_size=max(1 << 20, min(body.buffer.size + 1, 1 << 30)),  # a line must fit in one block
        ),
        parse_options=pv_csv.ParseOptions(
            delimiter="|",
            quote_char=False,
            escape_char=False,
            double_quote=False,
            newlines_in_values=False,
            ignore_empty_lines=True,
            invalid_row_handler=keep_bad,
        ),
        convert_options=pv_csv.ConvertOptions(
            column_types={column_names[i]: pa.string() for i in include},
            include_columns=[column_names[i] for i in include],
            strings_can_be_null=False,
            null_values=[],
            check_utf8=False,  # clean_bytes made it valid UTF-8
        ),
    )
    # The reader numbers rows 1.. over non-empty lines; the good rows are those not reported bad.
    numbers = np.arange(1, len(table) + len(bad_rows) + 1, dtype=np.int64)
    if bad_rows:
        numbers = np.delete(numbers, np.array([b[0] for b in bad_rows], dtype=np.int64) - 1)
    cols = {"line_no": pa.array(body.line_numbers(numbers))}
    for f in fields:
        cols[f"c_{f.lower()}"] = table.column(column_names[header.index(f)]).combine_chunks()
    rows = pa.table(cols)
    # A header repeated inside the text (concatenated outputs) is not a job row.
    id_field = "JobID" if header.has("JobID") else "JobIDRaw"
    repeated = pc.equal(rows[f"c_{id_field.lower()}"], header.names[header.index(id_field)])
    rows = rows.filter(pc.invert(repeated))
    bad_line_nos = body.line_numbers(np.array([b[0] for b in bad_rows], dtype=np.int64)).tolist()
    bad = [{"line_no": ln, "raw": b[1], "n": b[2]} for ln, b in zip(bad_line_nos, bad_rows, strict=True)]
    return rows, bad


@dataclass(frozen=True)
class Candidate:
    """One way to read a malformed line (or run of lines) with the header's field count."""

    line_no: int
    group: int
    prio: int  # lower wins when candidates differ only in free text
    raw: str
    fields: list


def repair_candidates(bad: list[dict], header: Header) -> tuple[list[Candidate], dict[int, list[tuple]]]:
    """Candidate field lists for lines with the wrong field count (a loop over malformed lines only).

    Too many fields: one candidate per free-text field in the header
    (``fields.FREE_TEXT_FIELDS``) holding the extra ``|``. Too few: consecutive
    short lines joined with ``\\n`` (a newline inside a field in the middle of the
    line). Returns the candidates and, per group, its original (line_no, raw, n_fields) lines.
    """
    n = len(header.names)
    free = [(prio, header.index(f)) for prio, f in enumerate(FREE_TEXT_FIELDS) if header.has(f)]
    candidates: list[Candidate] = []
    groups: dict[int, list[tuple]] = {}
    i = 0
    while i < len(bad):
        members = [bad[i]]
        total = bad[i]["n"]
        while (
            total < n
            and len(members) < _MAX_JOINED_LINES
            and i + len(members) < len(bad)
            and bad[i + len(members)]["n"] < n
            and bad[i + len(members)]["line_no"] == members[-1]["line_no"] + 1
        ):
            total += bad[i + len(members)]["n"] - 1
            members.append(bad[i + len(members)])
        group = len(groups)
        groups[group] = [(m["line_no"], m["raw"], m["n"]) for m in members]
        raw = "\n".join(m["raw"] for m in members)
        parts = raw.split("|") if total >= n else []
        if len(parts) == n and len(members) > 1:
            candidates.append(Candidate(members[0]["line_no"], group, 0, raw, parts))
        elif n < len(parts) < 4 * n + 1000:
            extra = len(parts) - n
            for prio, k in free:
                fields = parts[:k] + ["|".join(parts[k : k + extra + 1])] + parts[k + extra + 1 :]
                candidates.append(Candidate(members[0]["line_no"], group, prio, raw, fields))
        i += len(members)
    return candidates, groups
