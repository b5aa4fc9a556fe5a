"""Protects dedupe_jobs: one row per (cluster, job_id_raw, submit_time), the highest-ranked version wins,
and the result never depends on the order or repetition of the input tables."""

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slurm_assets.sacct.dedupe import dedupe_jobs
from slurm_assets.sacct.fields import JOBS_SCHEMA
from slurm_assets_tests.sacct.builders import line, parse, sample, text

S22 = parse(sample("sacct_22.05_sample.psv")).jobs


def _version(state: str, end: str, elapsed: int) -> pa.Table:
    return parse(text(line(State=state, End=end, ElapsedRaw=str(elapsed)))).jobs


def test_highest_rank_wins_whatever_the_order():
    old = _version("COMPLETED", "2024-05-01T11:00:00", 3600)
    new = _version("FAILED", "2024-05-01T11:00:00", 3600)
    for tables, ranks in (
        ([old, new], [("2024-05-01", "a"), ("2024-05-02", "b")]),
        ([new, old], [("2024-05-02", "b"), ("2024-05-01", "a")]),
    ):
        out = dedupe_jobs(tables, ranks)
        assert out.column("state").to_pylist() == ["FAILED"]


def test_requeued_attempts_share_the_id_but_not_the_key():
    out = dedupe_jobs([S22, S22], [(1,), (2,)])
    assert out.column("job_id").to_pylist().count("70") == 2
    assert len(out) == len(S22)
    assert out.schema == JOBS_SCHEMA


def test_same_job_on_two_clusters_is_two_jobs():
    a = parse(text(line())).jobs
    b = a.set_column(0, "cluster", pa.array(["beta"], pa.string()))
    assert len(dedupe_jobs([a, b], [(1,), (1,)])) == 2


def test_empty_and_mismatched_input():
    assert dedupe_jobs([], []).schema == JOBS_SCHEMA
    with pytest.raises(ValueError, match="one rank per table"):
        dedupe_jobs([S22], [])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 12), st.integers(0, 12)), min_size=1, max_size=5),
    st.randoms(use_true_random=False),
)
def test_independent_of_order_and_duplication(specs, rnd):
    # Each table: a slice of the sample with a rank; some tables share a rank but differ in content.
    tables, ranks = [], []
    for rank, lo, hi in specs:
        t = S22.slice(min(lo, hi), abs(hi - lo))
        if rank % 2:
            t = t.set_column(
                t.schema.get_field_index("exit_code"), "exit_code", pa.array([f"r{rank}"] * len(t), pa.string())
            )
        tables.append(t)
        ranks.append((rank, "drop"))
    expected = dedupe_jobs(tables, ranks)
    pairs = list(zip(tables, ranks)) * 2
    rnd.shuffle(pairs)
    again = dedupe_jobs([p[0] for p in pairs], [p[1] for p in pairs])
    assert again.equals(expected)
    keys = list(zip(*(expected.column(k).to_pylist() for k in ("cluster", "job_id_raw", "submit_time"))))
    assert len(keys) == len(set(keys))
