"""Protects issue 8 "Receiver down or killed": ``kill -9`` of the real receiver in the middle of uploads
from several real agents (subprocesses, the demo's stand-in sacct) loses nothing and duplicates nothing.

The agents spool what they could not deliver and send it first on their next run; after restarts every
(cluster, day) is in the landing zone exactly once, with the sha256 and job count of an independent
``--output-dir`` extraction of the same windows. A half-sent body at the moment of the kill never
becomes a visible drop. While agents run, no process command line carries the API key.
"""

import collections
import datetime as dt
import socket
import time
from pathlib import Path

import pytest

from slurm_assets.storage import landing
from slurm_assets_tests.reliability.conftest import landed, make_agent

KEY = "reliability-key-0123456789abcdef"
FIRST_DAY = "2024-05-01"
# (agents, days, kill cycles, jobs per day): the fast case runs in `make test`, the soak case in `make reliability`.
FAST = (3, 4, 1, 80)
SOAK = (8, 10, 3, 300)


def job_count(text: bytes) -> int:
    """Job allocation lines (JobID without a step suffix) in sacct --parsable2 text."""
    lines = text.decode("utf-8", "replace").splitlines()
    column = lines[0].split("|").index("JobID")
    return sum(1 for line in lines[1:] if line and "." not in line.split("|")[column])


def expected_drops(agents, tmp_path: Path, last_day: str) -> dict[tuple[str, str], tuple[str, int]]:
    """{(cluster, day): (sha256, jobs)} from the same agents in drop mode (--output-dir), no server involved."""
    out = tmp_path / "expected"
    procs = [a.popen("--output-dir", str(out), "--start-date", FIRST_DAY, "--end-date", last_day) for a in agents]
    assert [p.wait(300) for p in procs] == [0] * len(agents), [a.log()[-2000:] for a in agents]
    return {(d["cluster"], d["day"]): (d["text_sha256"], job_count(d["text"])) for d in landed_zone(out)}


def landed_zone(landing_dir: Path) -> list[dict]:
    """``landed`` for a folder laid out like DATA_DIR/landing (agent --output-dir)."""
    link = landing_dir.parent / "as-data-dir"
    link.mkdir(exist_ok=True)
    if not (link / "landing").exists():
        (link / "landing").symlink_to(landing_dir)
    return landed(link)


def half_upload(port: int) -> socket.socket:
    """A client that sent the headers and half of a body, and waits: an upload in flight."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        b"POST /api/data/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-slurm-usage-drop\r\n"
        + f"X-API-Key: {KEY}\r\nContent-Length: 100000\r\n\r\n".encode()
        + b'{"format": "slurm-usage-drop/1"'
        + b" " * 40000
    )
    return sock


def key_in_process_list() -> int:
    """How many running processes have the API key in their command line."""
    hits = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if KEY.encode() in cmdline.read_bytes():
                hits += 1
        except OSError:
            continue
    return hits


def visible_drops_are_whole(data_dir: Path) -> int:
    """Check every drop a reader can see is complete (text sha256 == manifest); return how many."""
    drops = landed(data_dir)
    for drop in drops:
        assert drop["text_sha256"] == drop["sha256"], f"partial or corrupt drop visible: {drop['drop_id']}"
    return len(drops)


@pytest.mark.parametrize(
    "size",
    [
        pytest.param(FAST, id="fast"),
        pytest.param(SOAK, id="soak", marks=pytest.mark.reliability_soak),
    ],
)
def test_kill_9_during_uploads_from_several_agents_loses_and_duplicates_nothing(
    size, tmp_path, receivers, demo_slurm_bin, figures
):
    n_agents, n_days, kill_cycles, jobs_per_day = size
    clusters = [f"c{i:02d}" for i in range(n_agents)]
    last_day = (dt.date.fromisoformat(FIRST_DAY) + dt.timedelta(days=n_days - 1)).isoformat()
    data_dir = tmp_path / "server" / "data"
    data_dir.mkdir(parents=True)
    rec = receivers(data_dir, KEY)
    agents = [
        make_agent(tmp_path / f"agent-{c}", c, demo_slurm_bin, rec.url, KEY, jobs_per_day=jobs_per_day)
        for c in clusters
    ]
    expected = expected_drops(agents, tmp_path, last_day)
    assert len(expected) == n_agents * n_days

    total = len(expected)
    kills, spooled_after_kill, landed_at_kill, key_hits, scans = [], [], [], 0, 0
    partial_bodies = 0
    for cycle in range(kill_cycles):
        rec.start()
        before = len(landing.list_drops(data_dir))
        procs = [a.popen("--start-date", FIRST_DAY, "--end-date", last_day) for a in agents]
        # Kill once a few more drops have landed, with a half-sent body in flight.
        target = min(before + 3, total - 1)
        deadline = time.monotonic() + 60
        while len(landing.list_drops(data_dir)) < target and time.monotonic() < deadline:
            key_hits += key_in_process_list()
            scans += 1
            time.sleep(0.02)
        in_flight = half_upload(rec.port)
        time.sleep(0.2)  # the receiver has read the headers and part of the body
        rec.kill9()
        in_flight.close()
        landed_at_kill.append(len(landing.list_drops(data_dir)))
        kills.append(cycle + 1)
        codes = [p.wait(120) for p in procs]
        partial_bodies += len(list((data_dir / "landing" / ".incoming").glob("upload-*.part")))
        spooled_after_kill.append(sum(len(a.spooled()) for a in agents))
        # Nothing a reader can see is partial, whatever the moment of the kill.
        visible_drops_are_whole(data_dir)
        assert set(codes) <= {0, 4}, [a.log()[-2000:] for a in agents]
    assert sum(spooled_after_kill) > 0, "the kill never interrupted a delivery: nothing was spooled"

    # Restart, and every agent runs once more: spool first, then the same windows again.
    rec.start()
    procs = [a.popen("--start-date", FIRST_DAY, "--end-date", last_day) for a in agents]
    assert [p.wait(300) for p in procs] == [0] * len(agents), [a.log()[-2000:] for a in agents]
    assert [a.spooled() for a in agents] == [[]] * len(agents)

    drops = landed(data_dir)
    per_key = collections.Counter((d["cluster"], d["day"]) for d in drops)
    duplicates = sum(n - 1 for n in per_key.values() if n > 1)
    got = {(d["cluster"], d["day"]): (d["text_sha256"], job_count(d["text"])) for d in drops}
    lost_drops = sorted(set(expected) - set(got))
    wrong = sorted(k for k in expected if k in got and got[k] != expected[k])
    expected_jobs = sum(jobs for _sha, jobs in expected.values())
    got_jobs = sum(jobs for _sha, jobs in got.values())
    logs = rec.log() + "".join(a.log() for a in agents)
    figures.record(
        "Receiver killed (kill -9) mid-upload, agents spool and retry",
        f"{n_agents} agents x {n_days} days ({total} drops, {expected_jobs} jobs), "
        f"{kill_cycles} kill(s) with a half-sent body in flight",
        f"drops landed at each kill {landed_at_kill}, spooled by agents {spooled_after_kill}; "
        f"after restart all delivered, sha256 set and job counts equal to a direct extraction; "
        f"{partial_bodies} partial body file(s) left in landing/.incoming, never listed as drops",
        lost=sum(expected[k][1] for k in lost_drops + wrong),
        duplicates=duplicates,
    )
    figures.record(
        "Agent: API key never in the process list or logs",
        f"{scans} scans of /proc/*/cmdline during {n_agents} concurrent agent runs; receiver and agent logs",
        f"{key_hits} command lines and {logs.count(KEY)} log lines held the key",
        lost=None,
        duplicates=None,
    )
    assert lost_drops == [] and wrong == [] and duplicates == 0
    assert got_jobs == expected_jobs
    assert key_hits == 0 and KEY not in logs
