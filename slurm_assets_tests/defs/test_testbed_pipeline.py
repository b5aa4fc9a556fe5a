"""Protects the whole path on real SLURM: testbed sacct -> agent drops -> ``python -m slurm_assets process``.
The finished jobs, their CPU- and GPU-hours, equal an independent computation from the same drop texts, and
running/pending jobs are in ``running_jobs``, never in ``jobs``."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from slurm_assets.__main__ import main
from slurm_assets.storage import landing, warehouse
from slurm_assets_tests.defs.history import allocation_rows, expected_jobs, is_finished

AGENT = Path(__file__).resolve().parents[2] / "agent" / "slurm-usage-history-exporter.py"


@pytest.mark.slurm_live
def test_agent_drops_to_jobs_match_an_independent_count(slurm_testbed, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    first = slurm_testbed.start.date()
    last = dt.datetime.now(dt.UTC).date()
    proc = subprocess.run(
        [
            sys.executable,
            str(AGENT),
            "--no-config",
            "--cluster",
            slurm_testbed.cluster,
            "--start-date",
            first.isoformat(),
            "--end-date",
            last.isoformat(),
            "--output-dir",
            str(tmp_path / "landing"),
        ],
        env=slurm_testbed.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert main(["process", "--data-dir", str(tmp_path)]) == 0, capsys.readouterr()

    # Independent: a finished allocation belongs to the drop of its End day (UTC, as the agent ran sacct).
    expected = {}
    for ref in landing.list_drops(tmp_path):
        expected.update(expected_jobs(landing.read_drop_text(ref).decode(), ref.day))
    assert expected, "the testbed job mix produced no finished jobs"

    con = warehouse.connect_readonly(tmp_path)
    got = {
        (job_id, submit.strftime("%Y-%m-%dT%H:%M:%S")): (cpu, gpu)
        for job_id, submit, cpu, gpu in con.execute(
            "SELECT job_id_raw, submit_time AT TIME ZONE 'UTC', cpu_hours, gpu_hours FROM jobs"
        ).fetchall()
    }
    assert sorted(got) == sorted(expected)
    assert sum(c for c, _ in got.values()) == pytest.approx(sum(c for c, _ in expected.values()))
    assert sum(g for _, g in got.values()) == pytest.approx(sum(g for _, g in expected.values()))
    assert sum(g for _, g in got.values()) > 0, "the job mix has GPU jobs"

    # running_jobs: the unfinished allocations of the newest drop; a job is never in both tables
    newest = landing.list_drops(tmp_path)[-1]
    unfinished = {
        int(r["JobIDRaw"]) for r in allocation_rows(landing.read_drop_text(newest).decode()) if not is_finished(r)
    }
    running = con.execute(
        "SELECT job_id_raw, strftime(submit_time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S') FROM running_jobs"
    ).fetchall()
    assert {job_id for job_id, _ in running} == unfinished
    assert not set(running) & set(got)
