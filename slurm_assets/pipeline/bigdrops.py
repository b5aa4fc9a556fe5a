"""Drops bigger than the batch budget, parsed piece by piece (issue 18: memory followed the drop size).

A drop whose text is over ``BIG_DROP_BYTES`` is never held whole: its gzip is streamed
twice, once for the sha256 (``landing.digest_gzip_text``, 256 KiB steps) and once to parse
``sacct/chunks.py`` pieces of ``CHUNK_TEXT_BYTES`` one at a time. Each piece's jobs are
deduplicated into what the earlier pieces gave (the same rule as across drops,
``dedupe.dedupe_jobs``: one row per job key, the largest row wins a tie), so memory holds
one piece's parse plus the drop's *distinct* jobs, whatever the text repeats. Quarantine
rows are kept up to ``MAX_QUARANTINE_ROWS`` per drop, then counted by reason in one row
each (the raw drop stays in the landing zone). The result equals parsing the whole text
(tested), except that a job whose step lines are more than 4 pieces away from it loses
those steps' MaxRSS and TotalCPU.
"""

import datetime as dt
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from slurm_assets import settings
from slurm_assets.sacct import chunks, dedupe, parse
from slurm_assets.sacct.fields import JOBS_SCHEMA, QUARANTINE_SCHEMA, ParsedDrop
from slurm_assets.storage import fs

# Drops over this much text are parsed in pieces (the batch budget: smaller ones are parsed whole, with others).
BIG_DROP_BYTES = 64 * 2**20
# One piece: the parser holds ~7x this (~220 MiB) while it works on it.
CHUNK_TEXT_BYTES = 32 * 2**20
MAX_QUARANTINE_ROWS = 100_000
# Distinct jobs (finished + unfinished) one big drop may hold: ~300 bytes each in memory, so with one piece's
# parse the tree stays under 1.5 GiB. A drop over it is quarantined whole (too_many_jobs): split the window.
MAX_DROP_JOBS = 1_000_000
_SAME_DROP = (0,)  # every piece has the drop's rank: dedupe keeps the largest row of a key, as for one text


def parse_all(drops: list, threads: int | None = None) -> list[ParsedDrop]:
    """ParsedDrop of each ``(LoadedDrop, cluster, day)``: small drops parsed together (``parse_sacct_texts``),
    big ones (``big_path`` set) piece by piece, one after the other; ``threads``: DuckDB's."""
    out: list = [None] * len(drops)
    small = [i for i, (d, _, _) in enumerate(drops) if d.big_path is None]
    texts = [(drops[i][0].text, drops[i][1], drops[i][0].drop_id, drops[i][2]) for i in small]
    for i, parsed in zip(small, parse.parse_sacct_texts(texts, threads), strict=True):
        out[i] = parsed
    for i, (d, cluster, day) in enumerate(drops):
        if d.big_path is not None:
            out[i] = parse_big_drop(d.big_path, cluster=cluster, drop_id=d.drop_id, day=day, threads=threads)
    return out


def big_drop_bytes() -> int:
    return settings.big_drop_bytes(BIG_DROP_BYTES)


def parse_big_drop(
    data_path: Path, *, cluster: str, drop_id: str, day: str, chunk_bytes: int | None = None, threads: int | None = None
) -> ParsedDrop:
    """``parse.parse_sacct_text`` of a gzip drop's text, streamed in pieces; ``jobs`` are deduplicated
    (the pipeline dedupes them anyway), ``unfinished`` are every piece's, in order. Prints one line
    with the text's size, pieces and seconds (``process`` shows it; Dagster keeps it in the run's stdout)."""
    began, pieces, size = time.monotonic(), 0, 0
    chunk_bytes = chunk_bytes or settings.drop_piece_bytes(CHUNK_TEXT_BYTES)
    jobs = JOBS_SCHEMA.empty_table()
    waiting: list[pa.Table] = []
    unfinished: list[pa.Table] = []
    quarantine = _Quarantine(cluster, day, drop_id)
    with fs.open_gzip(data_path) as stream:
        for piece, header_no, first_body in chunks.iter_chunks(stream, chunk_bytes):
            pieces, size = pieces + 1, size + len(piece)
            parsed = parse.parse_sacct_texts([(piece, cluster, drop_id, day)], threads)[0]
            quarantine.add(parsed.quarantine, header_no, first_body)
            if parsed.unfinished.num_rows:
                unfinished.append(parsed.unfinished)
            waiting.append(parsed.jobs)
            if sum(t.num_rows for t in waiting) >= jobs.num_rows // 2:  # amortized: repeats gone at once
                jobs, waiting = _dedupe(jobs, waiting, threads), []
                if (held := jobs.num_rows + sum(t.num_rows for t in unfinished)) > MAX_DROP_JOBS:
                    return _too_many(cluster, drop_id, day, held, size)
    if waiting:
        jobs = _dedupe(jobs, waiting, threads)
    if (held := jobs.num_rows + sum(t.num_rows for t in unfinished)) > MAX_DROP_JOBS:
        return _too_many(cluster, drop_id, day, held, size)
    print(
        f"  big drop {cluster}/{day}/{drop_id}: {size / 2**20:.0f} MiB of text in {pieces} pieces, "
        f"{jobs.num_rows} distinct finished jobs, parsed in {time.monotonic() - began:.1f} s",
        flush=True,
    )
    return ParsedDrop(
        jobs=jobs,
        unfinished=pa.concat_tables(unfinished) if unfinished else JOBS_SCHEMA.empty_table(),
        quarantine=quarantine.table(),
    )


def _dedupe(jobs: pa.Table, waiting: list[pa.Table], threads: int | None) -> pa.Table:
    tables = [jobs, *waiting]
    return dedupe.dedupe_job_groups([(tables, [_SAME_DROP] * len(tables))], threads)[0]


def _too_many(cluster: str, drop_id: str, day: str, held: int, size: int) -> ParsedDrop:
    detail = (
        f"landing/{cluster}/{day}/{drop_id}: too_many_jobs: over {MAX_DROP_JOBS} distinct jobs after "
        f"{size / 2**20:.0f} MiB of text ({held} so far; bigdrops.MAX_DROP_JOBS bounds the memory); "
        "collect shorter windows (the agent's --start-date/--end-date) and send those instead"
    )
    row = {
        "cluster": cluster,
        "date": dt.date.fromisoformat(day),
        "drop_id": drop_id,
        "line_no": 0,
        "reason": "too_many_jobs",
        "detail": detail,
        "raw_line": "",
    }
    print(f"  big drop {cluster}/{day}/{drop_id}: quarantined whole, over {MAX_DROP_JOBS} distinct jobs", flush=True)
    return ParsedDrop(
        JOBS_SCHEMA.empty_table(), JOBS_SCHEMA.empty_table(), pa.Table.from_pylist([row], schema=QUARANTINE_SCHEMA)
    )


class _Quarantine:
    """A drop's quarantine rows in drop line numbers: the first MAX_QUARANTINE_ROWS, then counts by reason."""

    def __init__(self, cluster: str, day: str, drop_id: str):
        self.key = (cluster, day, drop_id)
        self.kept: list[pa.Table] = []
        self.size = 0
        self.header_seen = False
        self.more: dict[str, list[int]] = {}  # reason -> [lines, first line, last line]

    def add(self, rows: pa.Table, header_no: int, first_body: int) -> None:
        if not rows.num_rows:
            return
        is_header = pc.equal(rows["line_no"], 1)  # the piece's header line: the drop's header
        line_no = pc.if_else(is_header, header_no, pc.add(rows["line_no"], first_body - 2))
        rows = rows.set_column(rows.schema.get_field_index("line_no"), "line_no", line_no)
        if self.header_seen:  # an unusable header is quarantined with the first piece only
            rows = rows.filter(pc.invert(is_header))
        self.header_seen = True
        room = max(MAX_QUARANTINE_ROWS - self.size, 0)
        self.kept.append(rows.slice(0, room))
        self.size += min(room, rows.num_rows)
        if rows.num_rows > room:  # counted by reason, vectorised
            over = (
                rows.slice(room)
                .group_by("reason")
                .aggregate([([], "count_all"), ("line_no", "min"), ("line_no", "max")])
            )
            for r in over.to_pylist():
                seen = self.more.setdefault(r["reason"], [0, r["line_no_min"], r["line_no_max"]])
                seen[0] += r["count_all"]
                seen[1], seen[2] = min(seen[1], r["line_no_min"]), max(seen[2], r["line_no_max"])

    def table(self) -> pa.Table:
        cluster, day, drop_id = self.key
        extra = [
            {
                "cluster": cluster,
                "date": dt.date.fromisoformat(day),
                "drop_id": drop_id,
                "line_no": first,
                "reason": reason,
                "raw_line": "",
                "detail": f"and {n} more lines quarantined for {reason} (lines {first}..{last}); the first "
                f"{MAX_QUARANTINE_ROWS} rows of this drop are listed, the drop is kept in the landing zone",
            }
            for reason, (n, first, last) in sorted(self.more.items())
        ]
        parts = self.kept + [pa.Table.from_pylist(extra, schema=QUARANTINE_SCHEMA)]
        return pa.concat_tables([p.cast(QUARANTINE_SCHEMA) for p in parts]).sort_by("line_no")
