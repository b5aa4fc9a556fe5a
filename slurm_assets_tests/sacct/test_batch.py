"""Protects the batch entry points the pipeline uses for speed (one DuckDB pass per run, not per day):
parse_sacct_texts gives, drop by drop, exactly what parse_sacct_text gives for each drop alone (steps never
fold into another drop's job, line numbers and quarantine rows stay per drop, repairs never join lines of two
drops); dedupe_job_groups and apportion_usage_groups equal dedupe_jobs / apportion_usage of each group."""

import pytest

from slurm_assets.sacct.dedupe import dedupe_job_groups, dedupe_jobs
from slurm_assets.sacct.parse import parse_sacct_text, parse_sacct_texts
from slurm_assets.sacct.usage import apportion_usage, apportion_usage_groups
from slurm_assets_tests.sacct.builders import FIXTURES, line, sample, text

# A requeued job (two attempts share JobIDRaw 7; Slurm sets Submit to the requeue time) with steps: alone, each drop folds its steps into its attempts.
REQUEUED = text(
    line(
        JobID="7",
        JobIDRaw="7",
        State="REQUEUED",
        Start="2024-05-01T10:00:00",
        End="2024-05-01T10:30:00",
        TotalCPU="00:00:00",
    ),
    line(
        JobID="7.batch",
        JobIDRaw="7.batch",
        Start="2024-05-01T10:00:00",
        End="2024-05-01T10:30:00",
        TotalCPU="00:10:00",
        MaxRSS="100K",
    ),
    line(
        JobID="7",
        JobIDRaw="7",
        Submit="2024-05-01T10:30:00",
        Start="2024-05-01T10:40:00",
        End="2024-05-01T11:00:00",
        TotalCPU="00:00:00",
    ),
    line(
        JobID="7.batch",
        JobIDRaw="7.batch",
        Start="2024-05-01T10:40:00",
        End="2024-05-01T11:00:00",
        TotalCPU="00:05:00",
        MaxRSS="200K",
    ),
)
# The same job 7 seen by another drop with only its last attempt and a different step.
SAME_JOB_OTHER_DROP = text(
    line(
        JobID="7",
        JobIDRaw="7",
        Submit="2024-05-01T10:30:00",
        Start="2024-05-01T10:40:00",
        End="2024-05-01T11:00:00",
        TotalCPU="00:00:00",
    ),
    line(
        JobID="7.0",
        JobIDRaw="7.0",
        Start="2024-05-01T10:41:00",
        End="2024-05-01T10:59:00",
        TotalCPU="00:01:00",
        MaxRSS="900K",
    ),
)
# A drop whose last line is cut short, then a drop whose first line is short: never joined across drops.
CUT_END = text(line(JobID="8", JobIDRaw="8"), "9|9|bob|physics")
CUT_START = text("cpu|normal|COMPLETED", line(JobID="10", JobIDRaw="10"))
# Wrong field counts, bad values, a '|' in a job name (repaired), blank lines and a header only.
MESSY = text(
    line(JobID="11", JobIDRaw="11", JobName="a|b"),
    line(JobID="12", JobIDRaw="12", Submit="yesterday"),
    "",
    line(JobID="13", JobIDRaw="13", State="RUNNING", End="Unknown"),
)
HEADER_ONLY = text()
NOT_SACCT = b"hello world\nnothing here\n"


def drops() -> list[tuple[bytes, str, str, str]]:
    texts = [
        REQUEUED,
        SAME_JOB_OTHER_DROP,
        CUT_END,
        CUT_START,
        MESSY,
        HEADER_ONLY,
        NOT_SACCT,
        b"",
        sample("sacct_22.05_sample.psv"),
        sample("sacct_20.11_sample.psv"),
        sample("sacct_24.x_sample.psv"),
        (FIXTURES / "sacct_22.05_alpha.psv").read_bytes(),
        REQUEUED,
    ]
    return [(t, "alpha" if i % 2 else "beta", f"d{i:02d}", f"2024-05-{1 + i:02d}") for i, t in enumerate(texts)]


def test_batch_equals_one_by_one():
    batch = parse_sacct_texts(drops())
    assert len(batch) == len(drops())
    for (data, cluster, drop_id, day), got in zip(drops(), batch, strict=True):
        alone = parse_sacct_text(data, cluster=cluster, drop_id=drop_id, day=day)
        for part in ("jobs", "unfinished", "quarantine"):
            assert getattr(got, part).schema == getattr(alone, part).schema, (drop_id, part)
            assert getattr(got, part).to_pylist() == getattr(alone, part).to_pylist(), (drop_id, part)


def test_steps_fold_within_their_own_drop():
    first, second = parse_sacct_texts(
        [(REQUEUED, "alpha", "a", "2024-05-01"), (SAME_JOB_OTHER_DROP, "alpha", "b", "2024-05-01")]
    )
    # drop a: the last attempt keeps its own batch step (200K, 5 min), not drop b's step 7.0 (900K)
    assert sorted(r["max_rss_bytes"] for r in first.jobs.to_pylist()) == [100 * 1024, 200 * 1024]
    assert [r["max_rss_bytes"] for r in second.jobs.to_pylist()] == [900 * 1024]


@pytest.mark.parametrize("n", [0, 1])
def test_small_batches(n):
    # no drop, and a single drop, are the trivial cases of the batch
    assert len(parse_sacct_texts(drops()[:n])) == n


def test_dedupe_groups_never_mix():
    parsed = parse_sacct_texts(drops())
    # the same job (REQUEUED) in groups 0 and 2: deduplicated within each group only
    groups = [
        ([parsed[0].jobs, parsed[1].jobs], [(2, "a"), (1, "b")]),
        ([], []),
        ([parsed[12].jobs, parsed[8].jobs, parsed[12].jobs], [(1, "x"), (1, "y"), (1, "x")]),
    ]
    batch = dedupe_job_groups(groups)
    assert [t.to_pylist() for t in batch] == [dedupe_jobs(*g).to_pylist() for g in groups]
    # group 0: drop 0 (cluster beta) has both attempts of job 7, drop 1 (alpha) its last one: three keys
    assert len(batch[0]) == 3 and len(batch[1]) == 0


def test_usage_groups_never_mix():
    parsed = parse_sacct_texts(drops())
    tables = [parsed[8].jobs, parsed[12].jobs, parsed[0].jobs.slice(0, 0), parsed[9].jobs, parsed[10].jobs]
    batch = apportion_usage_groups(tables)
    for table, (usage, gpu) in zip(tables, batch, strict=True):
        alone = apportion_usage(table)
        assert usage.to_pylist() == alone[0].to_pylist()
        assert gpu.to_pylist() == alone[1].to_pylist()
    assert sum(len(u) for u, _ in batch) > 0 and sum(len(g) for _, g in batch) > 0
