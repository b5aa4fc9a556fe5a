"""Protects issue 18 item 2: a big drop parsed in pieces gives what parsing it whole gives.

``bigdrops.parse_big_drop`` cuts the streamed text before job lines (``sacct/chunks.py``); in about 8 pieces
of real captures and odd texts the cut cases occur (steps after their job, requeued attempts, bad lines, blank lines,
CRLF, a piece without any job line). The jobs (deduplicated), unfinished jobs and quarantine rows (with the
drop's own line numbers) must equal ``parse_sacct_text`` of the whole text.
"""

import gzip

import pyarrow as pa
import pytest

from slurm_assets.pipeline import bigdrops
from slurm_assets.sacct import dedupe
from slurm_assets.sacct.chunks import iter_chunks
from slurm_assets.sacct.parse import parse_sacct_text
from slurm_assets_tests.sacct.builders import FIXTURES, line, sample, text

CAPTURES = [FIXTURES / "sacct_22.05_alpha.psv", FIXTURES / "sacct_22.05_alpha_by_jobid.psv"]


def odd_text() -> bytes:
    lines = [line(JobID=str(i), JobIDRaw=str(i)) for i in range(1, 30)]
    lines[3] = "garbage|line"
    lines[7] = line(JobID="8", JobIDRaw="8", AllocCPUS="100000000000000000000")
    lines[10] = ""
    lines[12] = line(JobID="13", JobIDRaw="13", State="RUNNING", End="Unknown")
    lines += [line(JobID="5.batch", JobIDRaw="5.batch", MaxRSS="3G", State="COMPLETED")] * 3  # steps far away
    lines += [line(JobID="2", JobIDRaw="2")] * 4  # the same job again
    return b"\n\n" + text(*lines).replace(b"\n", b"\r\n", 5)


def texts():
    yield "alpha", FIXTURES.joinpath("sacct_22.05_alpha.psv").read_bytes()
    yield "by_jobid", FIXTURES.joinpath("sacct_22.05_alpha_by_jobid.psv").read_bytes()
    for name in ("sacct_20.11_sample.psv", "sacct_22.05_sample.psv", "sacct_24.x_sample.psv"):
        yield name, sample(name)
    yield "odd", odd_text()
    yield "bad header", b"no|header|here\n1|2|3\n4|5|6\n"


def rows(table: pa.Table) -> list:
    return sorted(table.to_pylist(), key=lambda r: tuple(str(v) for v in r.values()))


@pytest.mark.parametrize("name, data", list(texts()), ids=[n for n, _ in texts()])
@pytest.mark.parametrize("n_pieces", [8, 1])
def test_a_big_drop_in_pieces_parses_as_the_whole_text(tmp_path, name, data, n_pieces):
    chunk = len(data) // n_pieces + 1  # about that many pieces (a DuckDB pass each)
    path = tmp_path / "drop.psv.gz"
    path.write_bytes(gzip.compress(data))
    whole = parse_sacct_text(data, cluster="c", drop_id="d", day="2024-05-01")
    pieces = bigdrops.parse_big_drop(path, cluster="c", drop_id="d", day="2024-05-01", chunk_bytes=chunk)
    if name == "odd":  # steps 20+ lines after their job may fall in another piece: compare without them
        pieces_jobs = pieces.jobs.drop_columns(["max_rss_bytes", "mem_efficiency"])
        whole_jobs = dedupe.dedupe_jobs([whole.jobs], [(0,)]).drop_columns(["max_rss_bytes", "mem_efficiency"])
    else:
        pieces_jobs, whole_jobs = pieces.jobs, dedupe.dedupe_jobs([whole.jobs], [(0,)])
    assert rows(pieces_jobs) == rows(whole_jobs)
    assert rows(pieces.unfinished) == rows(whole.unfinished)
    assert rows(pieces.quarantine) == rows(whole.quarantine)


def test_pieces_end_before_a_job_line_and_cover_every_line(tmp_path):
    data = FIXTURES.joinpath("sacct_22.05_alpha.psv").read_bytes()
    path = tmp_path / "drop.psv.gz"
    path.write_bytes(gzip.compress(data))
    with gzip.open(path) as stream:
        pieces = list(iter_chunks(stream, 500))
    assert len(pieces) > 5
    header = data.split(b"\n", 1)[0]
    body = []
    for piece, header_no, first in pieces:
        assert header_no == 1 and piece.startswith(header + b"\n")
        lines = piece.split(b"\n")[1:-1]
        assert b"." not in lines[0].split(b"|")[1]  # JobIDRaw of a job, not a step
        assert first == len(body) + 2
        body += lines
    assert b"\n".join([header, *body]) + b"\n" == data


def test_quarantine_rows_beyond_the_cap_are_counted_by_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(bigdrops, "MAX_QUARANTINE_ROWS", 5)
    data = text(*[f"garbage {i}" for i in range(20)], line(JobID="1", JobIDRaw="1"))
    path = tmp_path / "drop.psv.gz"
    path.write_bytes(gzip.compress(data))
    parsed = bigdrops.parse_big_drop(path, cluster="c", drop_id="d", day="2024-05-01", chunk_bytes=100)
    got = parsed.quarantine.to_pylist()
    assert [r["line_no"] for r in got[:5]] == [2, 3, 4, 5, 6]
    assert len(got) == 6 and got[5]["line_no"] == 7 and got[5]["reason"] == "bad_field_count"
    assert "and 15 more lines" in got[5]["detail"] and "(lines 7..21)" in got[5]["detail"]
    assert parsed.jobs["job_id_raw"].to_pylist() == [1]


def test_a_big_drop_with_too_many_distinct_jobs_is_quarantined_whole(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bigdrops, "MAX_DROP_JOBS", 10)
    data = text(*[line(JobID=str(i), JobIDRaw=str(i)) for i in range(1, 40)])
    path = tmp_path / "drop.psv.gz"
    path.write_bytes(gzip.compress(data))
    parsed = bigdrops.parse_big_drop(path, cluster="c", drop_id="d", day="2024-05-01", chunk_bytes=len(data) // 4)
    assert parsed.jobs.num_rows == 0 and parsed.unfinished.num_rows == 0
    [row] = parsed.quarantine.to_pylist()
    assert (row["line_no"], row["reason"]) == (0, "too_many_jobs") and "shorter windows" in row["detail"]
    assert "quarantined whole" in capsys.readouterr().out
