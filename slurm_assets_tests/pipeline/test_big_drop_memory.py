"""Protects issue 18 item 2: ``process`` memory does not follow the size of one drop.

A 1 GiB drop made ``process`` peak at 7.4 GB (the parser holds ~7x the text it is given). Big drops are
now streamed in pieces (pipeline/bigdrops.py). Scaled down so the test stays short: pieces of 1 MiB, drops
over 2 MiB count as big, and the same 5,000 jobs repeated to 8 and to 32 MiB of text (as a re-collection
pasted many times; the distinct jobs are what stays in memory). ``process`` runs as a real process
(one run, no forked worker: the process is the whole tree) and its peak RSS comes from ``wait4``; a whole-text
parse of the bigger drop needs ~240 MiB more (measured: 467 -> 704 MiB), the pieces must not need more than a few MiB more.
"""

import os
import subprocess
import sys

import pyarrow.parquet as pq

from slurm_assets.storage import paths
from slurm_assets_tests.drops import write_big_drop

MIB = 2**20
DAY = "2024-05-01"


def process_peak_mib(data_dir, env) -> tuple[float, str]:
    out = data_dir.parent / f"{data_dir.name}.out"
    with open(out, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "slurm_assets", "process", "--data-dir", str(data_dir), "--workers", "1"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
    text = out.read_text()
    assert os.waitstatus_to_exitcode(status) == 0, text[-3000:]
    return usage.ru_maxrss / 1024, text


def test_process_peak_memory_does_not_grow_with_the_drop_size(tmp_path):
    env = {
        **os.environ,
        "SLURM_USAGE_BIG_DROP_BYTES": str(2 * MIB),
        "SLURM_USAGE_DROP_PIECE_BYTES": str(1 * MIB),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    env.pop("DAGSTER_HOME", None)
    peaks = {}
    for size in (8, 32):
        data_dir = tmp_path / f"d{size}"
        write_big_drop(data_dir, "big", DAY, size * MIB, distinct_jobs=5000)
        peaks[size], out = process_peak_mib(data_dir, env)
        assert f"big drop big/{DAY}/" in out and " pieces, 5000 distinct finished jobs, parsed in " in out, out
        jobs = pq.read_table(paths.partition_file(data_dir, "jobs", "big", DAY))
        assert jobs.num_rows == 5000
    assert peaks[32] < peaks[8] + 40, peaks  # 4x the text, the same memory (a whole parse: +237 MiB)
