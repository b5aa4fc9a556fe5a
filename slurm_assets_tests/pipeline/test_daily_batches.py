"""Protects the batched pipeline (issue 7): process_days / process_usage_days over a range of days write
exactly the files (byte for byte) that processing the days one by one writes, wherever the batch boundaries
fall, with early collections, re-collections and an unreadable drop among the days; run workers side by side
split the CPUs, and one DuckDB thread parses like the default."""

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slurm_assets.pipeline import cpu_share, day_step, load, usage_step
from slurm_assets.sacct import parse, units
from slurm_assets.storage import landing
from slurm_assets_tests.defs.history import land, render_window
from slurm_assets_tests.pipeline.test_daily import DAYS, collections, histories, process_all

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def snapshot(data_dir):
    return {
        p.relative_to(data_dir).as_posix(): p.read_bytes()
        for p in sorted((data_dir / "warehouse").glob("*/*/*/*.parquet"))
    }


def landed(data_dir, history, early):
    for cluster, day, now in collections(history, early):
        land(data_dir, cluster, day, render_window(history[cluster], day, now), now)
    broken = sorted(landing.list_drops(data_dir), key=lambda r: r.drop_id)[0]
    broken.data_path.write_bytes(gzip.compress(b"JobIDRaw|State\n", mtime=0))  # tampered: quarantined


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=histories(),
    early=st.lists(st.tuples(st.integers(0, 1), st.integers(0, len(DAYS) - 1), st.integers(0, 60)), max_size=3),
    batch_bytes=st.sampled_from([1, 700, 2000, 64 * 2**20]),
)
def test_batches_write_what_one_day_at_a_time_writes(tmp_path_factory, history, early, batch_bytes):
    one_by_one = tmp_path_factory.mktemp("days")
    landed(one_by_one, history, early)
    process_all(one_by_one, DAYS)

    batched = tmp_path_factory.mktemp("batched")
    landed(batched, history, early)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(load, "BATCH_TEXT_BYTES", batch_bytes)  # 1: every day its own batch; 64 MiB: one batch
        mp.setattr(usage_step, "BATCH_JOB_ROWS", max(1, batch_bytes // 200))
        days = [d for d, _ in day_step.process_days(batched, DAYS)]
        usage_days = [d for d, _ in usage_step.process_usage_days(batched, DAYS)]
    assert days == usage_days == DAYS
    assert snapshot(batched) == snapshot(one_by_one)


def test_run_workers_share_the_cpus(monkeypatch):
    monkeypatch.setattr(cpu_share.os, "cpu_count", lambda: 2)
    threads = cpu_share.threads_for(2)  # two run workers side by side: one DuckDB thread each
    assert threads == 1 and cpu_share.threads_for(1) == 2
    assert units.connect(threads).execute("SELECT current_setting('threads')").fetchone() == (1,)


def test_one_duckdb_thread_parses_like_the_default(tmp_path, monkeypatch):
    texts = [(p.read_bytes(), "alpha", p.stem, "2024-05-01") for p in sorted(FIXTURES.glob("*.psv"))]
    assert texts
    default = parse.parse_sacct_texts(texts)
    for one, other in zip(parse.parse_sacct_texts(texts, threads=1), default, strict=True):
        assert one.jobs.equals(other.jobs) and one.unfinished.equals(other.unfinished)
        assert one.quarantine.equals(other.quarantine)
