"""Long ``sacct --parsable2`` texts (years of kept logs) -> one text per UTC day, as drops carry them (pure).

A job row goes to the UTC day of its End, else Start, else Submit: the day whose ``jobs``
partition keeps a finished job (the pipeline files jobs by end day). A step row goes with its
job row (the nearest one before it with the same JobIDRaw, as sacct prints steps after their
job; folding happens within one drop). A line without a day of its own (a step whose job row
is missing, a line with the wrong field count, an unreadable time) goes with the line before
it, or the first dated line, so the parser still sees it and quarantines it if it is bad:
nothing bad is dropped here. Lines keep their order; a day's text is the header plus its lines.

Kept logs repeat a job: a nightly ``sacct -S d -E d+1`` shows a job RUNNING on each day it ran and
finished on its last. An unfinished row (End not a time) of a job key (JobIDRaw, Submit) that has a
finished row or a later row in the text is an older snapshot: it is left out with its steps, and
counted (the import summary says how many), as the pipeline would let the latest collection win.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slurm_assets.sacct import read, units
from slurm_assets.sacct.fields import INPUT_FIELDS, REQUIRED_FIELD_GROUPS


class SplitError(ValueError):
    """The text cannot be split: no usable header, or no line with a day."""


@dataclass(frozen=True)
class DayText:
    day: str
    text: bytes  # the header line, then the day's lines, each ending in \n
    lines: int


def header_line(fields: list[str]) -> bytes:
    """A header for headerless text (``--noheader`` logs): the given field names, any case, ``|``-joined.

    Raises SplitError for an empty name or one holding ``|``."""
    names = [f.strip() for f in fields]
    if not names or any(not n or "|" in n for n in names):
        raise SplitError(
            f"--fields {','.join(fields)!r}: give the sacct --format names in the file's order, "
            "comma separated, e.g. JobID,JobIDRaw,State,Submit,Start,End,AllocCPUS"
        )
    return ("|".join(names) + "\n").encode()


def split_by_day(text: bytes) -> tuple[list[DayText], int]:
    """One DayText per UTC day of ``text`` (sacct --parsable2 with its header), days ascending, and the
    number of superseded lines left out. Raises SplitError naming what is missing (a required field,
    any dated line)."""
    split = read.split_header(read.clean_bytes(text))
    if split is None:
        raise SplitError("the text is empty")
    header, body = split
    known = {f.lower() for f in INPUT_FIELDS}
    if not any(n.lower() in known for n in header.names):
        raise SplitError(
            f"the first line is not a sacct header ({header.text[:120]!r}); for headerless "
            "logs (sacct --noheader) give the field names with --fields"
        )
    for group in REQUIRED_FIELD_GROUPS:
        if not any(header.has(g) for g in group):
            raise SplitError(f"the header lacks {' or '.join(group)} ({header.text[:200]!r})")
    id_field = "JobIDRaw" if header.has("JobIDRaw") else "JobID"
    ids = [f for f in ("JobID", "JobIDRaw") if header.has(f)]  # JobID: read_fields drops repeated headers by it
    rows, bad = read.read_fields(body, header, [*ids, "Submit", "Start", "End"])
    days = _line_days(rows, bad, id_field)
    if days.num_rows == 0 or days["day"].null_count == days.num_rows:
        raise SplitError("no job line with a readable End, Start or Submit time (YYYY-MM-DDTHH:MM:SS)")
    superseded = int(pc.sum(days["superseded"]).as_py() or 0)
    return _texts(header, body, days.filter(pc.invert(days["superseded"]))), superseded


_DAYS_SQL = """
WITH t AS (
    SELECT line_no, split_part(c_id, '.', 1) AS job_key, contains(c_id, '.') AS is_step, c_submit,
        {end} AS t_end, CAST(coalesce({end}, {start}, {submit}) AS DATE) AS own_day
    FROM rows
), w AS (
    -- an unfinished job row (no End) is superseded by a finished row or a later row of the same job
    SELECT *, NOT is_step AND t_end IS NULL AND (
        count(t_end) OVER k > 0 OR line_no < max(line_no) OVER k) AS superseded
    FROM t WINDOW k AS (PARTITION BY is_step, job_key, c_submit)
), jobs AS (SELECT line_no, job_key, own_day, superseded FROM w WHERE NOT is_step AND own_day IS NOT NULL),
dated AS (
    SELECT w.line_no, CASE WHEN w.is_step THEN j.own_day ELSE w.own_day END AS day,
        CASE WHEN w.is_step THEN coalesce(j.superseded, false) ELSE w.superseded END AS superseded
    FROM w ASOF LEFT JOIN jobs j ON w.job_key = j.job_key AND w.line_no >= j.line_no
), every AS (
    SELECT line_no, day, superseded FROM dated
    UNION ALL SELECT line_no, CAST(NULL AS DATE), false FROM bad
)
SELECT line_no, superseded, coalesce(
    last_value(day IGNORE NULLS) OVER (ORDER BY line_no ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
    first_value(day IGNORE NULLS) OVER (ORDER BY line_no ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
) AS day
FROM every ORDER BY day, line_no
"""


def _line_days(rows: pa.Table, bad: list[dict], id_field: str) -> pa.Table:
    """(line_no, superseded, day) of every body line with text, ordered by day then line."""
    con = units.connect()
    try:
        con.register(
            "rows", rows.rename_columns(["c_id" if c == f"c_{id_field.lower()}" else c for c in rows.column_names])
        )
        con.register("bad", pa.table({"line_no": pa.array([b["line_no"] for b in bad], pa.int64())}))
        sql = _DAYS_SQL.format(
            end=units.sql_ts("c_end"), start=units.sql_ts("c_start"), submit=units.sql_ts("c_submit")
        )
        return con.execute(sql).to_arrow_table()
    finally:
        con.close()


def _texts(header: read.Header, body: read.Body, days: pa.Table) -> list[DayText]:
    """Slice the body's lines into one text per day (line order kept)."""
    starts, ends = body.bounds()
    data = np.frombuffer(body.buffer, dtype=np.uint8)
    first = body.header_line_no + 1
    line_nos = days["line_no"].to_numpy()
    day_values = days["day"].to_numpy(zero_copy_only=False)
    head = header.text.encode() + b"\n"
    out = []
    cuts = np.flatnonzero(day_values[1:] != day_values[:-1]) + 1
    for chunk_lines, chunk_days in zip(np.split(line_nos, cuts), np.split(day_values, cuts), strict=True):
        idx = chunk_lines - first
        pieces = [data[s:e].tobytes() for s, e in zip(starts[idx], ends[idx], strict=True)]
        out.append(DayText(str(chunk_days[0])[:10], head + b"\n".join(pieces) + b"\n", len(pieces)))
    return out
