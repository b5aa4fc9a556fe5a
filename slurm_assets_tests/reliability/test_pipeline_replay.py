"""Protects issue 8 "Replay" and "Crash mid-write" for ``python -m slurm_assets process`` (a real subprocess):
the landing zone is the system of record, so deleting the warehouse and processing again rebuilds identical
tables; a ``kill -9`` of ``process`` at several points never leaves a Parquet file a reader cannot read
(every file under warehouse/ opens with pyarrow and the dashboard's read-only views answer), and the rerun
yields the same tables as an uninterrupted run. Every finished job in the drops is in ``jobs`` exactly once.
"""

import shutil
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from slurm_assets_tests.reliability.conftest import (
    exactly_once,
    make_agent,
    process_command,
    process_env,
    run_process,
    snapshot,
)

CLUSTERS = ("alpha", "beta")
# Two collections, like an agent's daily runs: a first one while day 3 was still running (running jobs,
# partial day), then a re-collection of every day: overlapping drops with different contents.
COLLECTIONS = (
    ("2024-05-03T12:00:00Z", "2024-05-01", "2024-05-03"),
    ("2024-06-01T00:00:00Z", "2024-05-01", "2024-05-05"),
)


@pytest.fixture(scope="module")
def landing_zone(tmp_path_factory, demo_slurm_bin) -> Path:
    """A DATA_DIR with only landing/: 2 clusters x 5 days, two overlapping collections (agent --output-dir)."""
    root = tmp_path_factory.mktemp("replay")
    data_dir = root / "pristine"
    for cluster in CLUSTERS:
        for now, first, last in COLLECTIONS:
            agent = make_agent(
                root / f"agent-{cluster}", cluster, demo_slurm_bin, "http://127.0.0.1:9", "unused", jobs_per_day=60
            )
            agent.demo_now = now
            result = agent.run("--output-dir", str(data_dir / "landing"), "--start-date", first, "--end-date", last)
            assert result.returncode == 0, result.stderr.decode()[-3000:]
    return data_dir


def fresh_copy(landing_zone: Path, dest: Path) -> Path:
    shutil.copytree(landing_zone / "landing", dest / "landing")
    return dest


def readers_see_whole_files(data_dir: Path) -> tuple[int, int]:
    """Open every Parquet file under warehouse/ and query every view; return (files, leftover temp files)."""
    files = sorted((data_dir / "warehouse").rglob("*.parquet"))
    for path in files:
        pq.read_table(path)  # raises on a partial file
    snapshot(data_dir)  # the dashboard's connection answers over whatever is there
    leftovers = [p for p in (data_dir / "warehouse").rglob("*") if p.is_file() and not p.name.endswith(".parquet")]
    return len(files), len(leftovers)


@pytest.fixture(scope="module")
def baseline(landing_zone, tmp_path_factory) -> tuple[Path, dict]:
    """One uninterrupted ``process`` over a copy of the landing zone, and its table snapshot."""
    data_dir = fresh_copy(landing_zone, tmp_path_factory.mktemp("baseline"))
    run_process(data_dir)
    return data_dir, snapshot(data_dir)


def test_deleting_the_warehouse_and_processing_again_rebuilds_identical_tables(baseline, figures):
    data_dir, before = baseline
    expected, lost, dups = exactly_once(data_dir)
    assert before["jobs"][0] > 0 and expected > 0
    # What an operator does for a replay: delete the derived data, keep the landing zone (and the state file,
    # which `process` used to trust: it then rebuilt nothing).
    shutil.rmtree(data_dir / "warehouse")
    (data_dir / "slurm_usage.duckdb").unlink(missing_ok=True)
    run_process(data_dir)
    after = snapshot(data_dir)
    # (Processing from nothing but landing/, state included, is what the baseline and every crash rerun do.)
    differing = sorted(t for t in before if before[t] != after[t])
    figures.record(
        "Replay: delete warehouse/ + DuckDB, process again",
        f"{len(CLUSTERS)} clusters x 5 days, {len(list((data_dir / 'landing').rglob('*.manifest.json')))} "
        f"overlapping drops, {before['jobs'][0]} jobs",
        f"{len(before)} tables compared by sorted-row sha256: {len(before) - len(differing)} identical"
        + (f", differing: {differing}" if differing else "")
        + f"; jobs vs raw drops: {expected} expected",
        lost=lost,
        duplicates=dups,
    )
    assert differing == [], {t: (before[t], after[t]) for t in differing}
    assert (lost, dups) == (0, 0)


def kill_when(proc: subprocess.Popen, data_dir: Path, point: str, timeout_s: float = 300) -> str:
    """Wait for ``point`` of a ``process`` run, then kill -9 it; return what was observed at the kill."""
    deadline = time.monotonic() + timeout_s
    began = time.monotonic()
    while time.monotonic() < deadline and proc.poll() is None:
        files = list((data_dir / "warehouse").rglob("*.parquet")) if (data_dir / "warehouse").exists() else []
        if point.endswith("s") and time.monotonic() - began >= float(point[:-1]):
            break
        if point == "first_parquet" and files:
            break
        if point.startswith("parquet>=") and len(files) >= int(point.split(">=")[1]):
            break
        if point == "duckdb" and (data_dir / "slurm_usage.duckdb").exists():
            break
        time.sleep(0.01)
    finished = proc.poll() is not None
    proc.kill()
    proc.wait()
    n = len(list((data_dir / "warehouse").rglob("*.parquet"))) if (data_dir / "warehouse").exists() else 0
    return f"{point}: {'had already finished' if finished else 'killed'} with {n} Parquet files"


FAST_POINTS = ["first_parquet"]
SOAK_POINTS = ["0.5s", "1s", "2s", "first_parquet", "parquet>=10", "parquet>=30", "duckdb"]


@pytest.mark.parametrize(
    "points",
    [
        pytest.param(FAST_POINTS, id="fast"),
        pytest.param(SOAK_POINTS, id="soak", marks=pytest.mark.reliability_soak),
    ],
)
def test_kill_9_of_process_mid_write_leaves_no_partial_file_and_rerun_is_identical(
    points, baseline, landing_zone, tmp_path, figures
):
    _base_dir, expected_tables = baseline
    observed, leftovers, file_counts = [], 0, []
    for i, point in enumerate(points):
        data_dir = fresh_copy(landing_zone, tmp_path / f"run-{i}")
        proc = subprocess.Popen(
            process_command(data_dir), env=process_env(data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        observed.append(kill_when(proc, data_dir, point))
        files, left = readers_see_whole_files(data_dir)
        file_counts.append(files)
        leftovers += left
        run_process(data_dir)
        tables = snapshot(data_dir)
        differing = sorted(t for t in tables if tables[t] != expected_tables[t])
        _expected, lost, dups = exactly_once(data_dir)
        assert differing == [], (point, {t: (tables[t], expected_tables[t]) for t in differing})
        assert (lost, dups) == (0, 0)
    figures.record(
        "Crash mid-write: kill -9 of `process`, then rerun",
        f"{len(points)} kill point(s): {', '.join(points)}",
        f"{'; '.join(observed)}; every visible Parquet file readable, views answer; "
        f"{leftovers} temp file(s) left (hidden .tmp, never read); rerun identical to an uninterrupted run",
        lost=0,
        duplicates=0,
    )
