"""Protects issue 8 "Bad input" for the sacct parser: hypothesis mutates a real sacct 22.05 capture
(truncated lines, wrong column counts, binary garbage, huge fields, non-UTF-8 bytes, no header) and
``parse_sacct_text`` must never raise, must keep every untouched job, and must quarantine every
damaged line it cannot read, each with a stable reason code and a detail (never a silent drop).
"""

import re
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slurm_assets.sacct.fields import JOBS_SCHEMA, QUARANTINE_SCHEMA
from slurm_assets.sacct.parse import parse_sacct_text

CAPTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sacct_22.05_alpha.psv"
LINES = CAPTURE.read_bytes().rstrip(b"\n").split(b"\n")
HEADER, DATA = LINES[0], LINES[1:]
NAMES = HEADER.decode().split("|")
JOBID, SUBMIT = NAMES.index("JobID"), NAMES.index("Submit")
REASON_RE = re.compile(r"^[a-z][a-z0-9_]*$")
FAST_EXAMPLES, SOAK_EXAMPLES = 25, 200


def _truncate(line: bytes, at: int) -> bytes:
    return line[: at % max(len(line), 1)]


MUTATIONS = {
    "truncated": lambda line, n, blob: _truncate(line, n),
    "missing_field": lambda line, n, blob: b"|".join(
        f for i, f in enumerate(line.split(b"|")) if i != n % len(line.split(b"|"))
    ),
    "extra_fields": lambda line, n, blob: line + b"|x" * (1 + n % 5),
    "binary_garbage": lambda line, n, blob: blob,
    "huge_field": lambda line, n, blob: b"|".join(
        (b"A" * 200_000 if i == n % len(line.split(b"|")) else f) for i, f in enumerate(line.split(b"|"))
    ),
    "non_utf8": lambda line, n, blob: line[: n % max(len(line), 1)] + b"\xff\xfe\xc3(" + line[n % max(len(line), 1) :],
}

mutation = st.tuples(
    st.integers(0, len(DATA) - 1),
    st.sampled_from(sorted(MUTATIONS)),
    st.integers(0, 10_000),
    st.binary(min_size=1, max_size=300).filter(lambda b: b"\n" not in b),
)


def check_schemas(parsed) -> None:
    assert parsed.jobs.schema.names == JOBS_SCHEMA.names
    assert parsed.unfinished.schema.names == JOBS_SCHEMA.names
    assert parsed.quarantine.schema.names == QUARANTINE_SCHEMA.names
    for row in parsed.quarantine.to_pylist():
        assert REASON_RE.match(row["reason"] or ""), row
        assert row["detail"], row


def keys(table: pa.Table) -> set[tuple[str, str]]:
    return {
        (r["job_id"], r["submit_time"].strftime("%Y-%m-%dT%H:%M:%S"))
        for r in table.select(["job_id", "submit_time"]).to_pylist()
        if r["submit_time"] is not None
    }


def check_mutated_text(mutations) -> tuple[int, int]:
    """Apply ``mutations`` to the capture, parse, check the invariants; return (damaged lines, quarantined)."""
    lines = list(DATA)
    damaged: dict[int, str] = {}
    for index, kind, n, blob in mutations:
        lines[index] = MUTATIONS[kind](lines[index], n, blob)
        damaged[index] = kind
    text = b"\n".join([HEADER, *lines]) + b"\n"
    parsed = parse_sacct_text(text, cluster="alpha", drop_id="fuzz", day="2026-11-25")
    check_schemas(parsed)
    quarantined = {r["line_no"] for r in parsed.quarantine.select(["line_no"]).to_pylist()}
    found = keys(parsed.jobs) | keys(parsed.unfinished)
    found_ids = {k[0] for k in found}
    for index, line in enumerate(lines):
        line_no = index + 2  # 1-based, header is line 1
        fields = line.decode("utf-8", "replace").split("|")
        if index not in damaged:
            # An untouched job line is never lost, whatever its neighbours look like.
            if len(fields) == len(NAMES) and "." not in fields[JOBID]:
                assert (fields[JOBID], fields[SUBMIT]) in found or line_no in quarantined, (line_no, line[:200])
            continue
        if not line.strip():
            continue
        # A damaged line is read as a job, is a step row (folded or ignored with its job), or is quarantined.
        read = fields[JOBID] in found_ids or "." in fields[JOBID]
        assert read or line_no in quarantined, (damaged[index], line_no, line[:200])
    return len(damaged), len(quarantined)


@pytest.mark.parametrize(
    "examples",
    [
        pytest.param(FAST_EXAMPLES, id="fast"),
        pytest.param(SOAK_EXAMPLES, id="soak", marks=pytest.mark.reliability_soak),
    ],
)
def test_parser_never_raises_and_quarantines_damaged_lines(examples, figures):
    stats = {"texts": 0, "damaged": 0, "quarantined": 0}

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(mutation, min_size=1, max_size=12))
    def run(mutations):
        damaged, quarantined = check_mutated_text(mutations)
        stats["texts"] += 1
        stats["damaged"] += damaged
        stats["quarantined"] += quarantined

    try:
        run()
    finally:
        figures.record(
            "Bad input: sacct parser fuzzing (hypothesis)",
            f"{stats['texts']} mutated captures, {stats['damaged']} damaged lines ({', '.join(sorted(MUTATIONS))})",
            f"never raised; {stats['quarantined']} lines quarantined with a reason code; every untouched job kept",
            lost=0,
            duplicates=None,
        )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(b"\n".join(DATA) + b"\n", id="no_header"),
        pytest.param(bytes(range(256)) * 40, id="binary_only"),
        pytest.param(HEADER + b"\n" + b"\xff" * 100_000 + b"\n", id="non_utf8_line"),
        pytest.param(HEADER[: len(HEADER) // 2] + b"\n" + b"\n".join(DATA), id="truncated_header"),
        pytest.param(b"", id="empty"),
    ],
)
def test_hopeless_texts_are_quarantined_whole(text, figures):
    parsed = parse_sacct_text(text, cluster="alpha", drop_id="bad", day="2026-11-25")
    check_schemas(parsed)
    body = [line for line in text.split(b"\n")[1:] if line.strip()]
    lost = len(body) - parsed.quarantine.num_rows - parsed.jobs.num_rows - parsed.unfinished.num_rows
    figures.record(
        "Bad input: sacct text without a usable header or with garbage only",
        f"{len(text)} bytes",
        f"{parsed.quarantine.num_rows} quarantined rows, "
        f"reasons {sorted(set(parsed.quarantine['reason'].to_pylist()))}",
        lost=max(lost, 0),
        duplicates=None,
    )
    assert parsed.jobs.num_rows + parsed.unfinished.num_rows == 0
    assert lost <= 0, "a line was dropped without a quarantine row"
