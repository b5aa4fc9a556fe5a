"""Protects the multi-cluster rules of the parser (DESIGN.md "Tables", issue 15 item 1): a row whose ``Cluster``
is not the drop's cluster is quarantined (``cluster_mismatch``) and never filed under either cluster, also when
its job ids and submit times collide with this cluster's; one job key with different content twice in a drop
is a quarantined conflict, never a silent collapse; identical repeated lines count once."""

import pyarrow.compute as pc

from slurm_assets.pipeline import day_step
from slurm_assets.pipeline.load import LoadedDrop
from slurm_assets.sacct.parse import parse_sacct_text
from slurm_assets_tests.sacct.builders import FIELDS, FIXTURES, line, text

ALPHA = (FIXTURES / "sacct_22.05_alpha.psv").read_bytes()  # real 22.05 capture, every row Cluster=alpha


def other_cluster(data: bytes) -> bytes:
    """The same capture as if cluster beta ran the same job ids at the same times, for other users."""
    body = data.split(b"\n", 1)[1]
    return body.replace(b"|alpha|", b"|beta|").replace(b"|alice|", b"|mallory|").replace(b"|physics|", b"|evil|")


def keyed(table) -> dict:
    return {(r["job_id_raw"], r["submit_time"]): r for r in table.to_pylist()}


def test_rows_of_another_cluster_are_quarantined_never_filed():
    alone = parse_sacct_text(ALPHA, cluster="alpha", drop_id="a", day="2026-11-25")
    both = parse_sacct_text(ALPHA + other_cluster(ALPHA), cluster="alpha", drop_id="b", day="2026-11-25")
    # alpha's jobs exactly as from its own rows: the colliding beta rows (same ids, same submit) changed nothing
    assert keyed(both.jobs) == keyed(alone.jobs) and keyed(both.unfinished) == keyed(alone.unfinished)
    assert len(alone.jobs) > 10
    mismatched = both.quarantine.filter(pc.equal(both.quarantine["reason"], "cluster_mismatch"))
    n_beta = len(other_cluster(ALPHA).splitlines())
    assert len(mismatched) == n_beta  # every beta line, steps and the repaired '|' in job 7's SubmitLine included
    assert all("Cluster=beta" in d and "alpha" in d for d in mismatched["detail"].to_pylist())
    assert len(both.quarantine) == len(alone.quarantine) + n_beta
    # a key bound to beta cannot file alpha's rows either
    as_beta = parse_sacct_text(ALPHA, cluster="beta", drop_id="c", day="2026-11-25")
    assert len(as_beta.jobs) == len(as_beta.unfinished) == 0
    assert set(as_beta.quarantine["reason"].to_pylist()) <= {"cluster_mismatch", "bad_field_count"}


def test_cluster_name_compares_without_case_and_empty_is_not_a_mismatch():
    fields = FIELDS + ["Cluster"]
    data = text(
        line(fields, JobID="1", JobIDRaw="1", Cluster="ALPHA"),
        line(fields, JobID="2", JobIDRaw="2", Cluster=""),
        fields=fields,
    )
    parsed = parse_sacct_text(data, cluster="alpha", drop_id="d", day="2024-05-01")
    assert sorted(parsed.jobs["job_id_raw"].to_pylist()) == [1, 2] and len(parsed.quarantine) == 0


def test_same_key_with_different_content_is_a_conflict():
    # two clusters' rows without a Cluster column: job 5, same submit time, different users and CPUs
    data = text(
        line(JobID="5", JobIDRaw="5", User="alice"),
        line(JobID="5", JobIDRaw="5", User="bob", AllocCPUS="8"),
        line(JobID="5.batch", JobIDRaw="5.batch", TotalCPU="00:30:00"),
        line(JobID="6", JobIDRaw="6"),
    )
    parsed = parse_sacct_text(data, cluster="alpha", drop_id="d", day="2024-05-01")
    assert parsed.jobs["job_id_raw"].to_pylist() == [6]
    conflicts = parsed.quarantine.filter(pc.equal(parsed.quarantine["reason"], "conflicting_job_rows"))
    assert conflicts["line_no"].to_pylist() == [2, 3]  # both versions, with their raw lines
    assert "alice" in conflicts["raw_line"][0].as_py() and "bob" in conflicts["raw_line"][1].as_py()
    assert "2 rows" in conflicts["detail"][0].as_py()


def test_identical_repeated_lines_count_once():
    # the same collection pasted twice: one job, its step CPU time not doubled
    rows = [
        line(JobID="5", JobIDRaw="5", TotalCPU="00:00:00"),
        line(JobID="5.batch", JobIDRaw="5.batch", TotalCPU="00:30:00"),
    ]
    once = parse_sacct_text(text(*rows), cluster="alpha", drop_id="d", day="2024-05-01")
    twice = parse_sacct_text(text(*rows, *rows), cluster="alpha", drop_id="d", day="2024-05-01")
    assert twice.jobs.to_pylist() == once.jobs.to_pylist() and len(twice.jobs) == 1
    assert twice.jobs["total_cpu_s"].to_pylist() == [1800.0] and len(twice.quarantine) == 0


def test_cluster_day_files_only_its_own_cluster():
    manifest = {
        "collected_at": "2026-11-25T18:00:00Z",
        "sha256": "0" * 64,
        "source": "drop",
        "rows": 1,
        "window_start": "2026-11-25T00:00:00Z",
        "window_end": "2026-11-26T00:00:00Z",
        "sacct_version": "22.05.8",
        "agent_version": "hand-made",
    }
    drops = [LoadedDrop("alpha", "2026-11-25", "mixed", manifest, ALPHA + other_cluster(ALPHA))]
    built = day_step.build_cluster_days([("alpha", "2026-11-25", drops)])[0]
    alone = parse_sacct_text(ALPHA, cluster="alpha", drop_id="a", day="2026-11-25")
    assert keyed(built["jobs"]) == keyed(
        alone.jobs.filter(pc.equal(alone.jobs["end_date"], built["jobs"]["end_date"][0]))
    )
    assert set(built["jobs"]["user"].to_pylist()) <= {"alice", "bob", "carol"}
    assert pc.sum(pc.equal(built["quarantine"]["reason"], "cluster_mismatch")).as_py() > 0
