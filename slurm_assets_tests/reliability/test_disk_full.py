"""Protects issue 8 "Disk full / read-only data dir": the real receiver on a real 1 MiB tmpfs answers
507 when the volume fills up and 503 when it is read-only, never acknowledges a drop that is not
complete on disk, and the real agent keeps every undelivered drop in its spool and delivers it, once,
when the volume is usable again.
"""

import collections
import os
import re
import subprocess

import httpx
import pytest

from slurm_assets_tests.receiver.conftest import drop_body, make_drop, sacct_text
from slurm_assets_tests.reliability.conftest import landed, make_agent

KEY = "disk-full-key-0123456789abcdef"
DAYS = ("2024-05-01", "2024-05-06")  # 6 days
DELIVERED_RE = re.compile(r"delivered (\S+) (\S+) drop (\w+) \((new|already on the server)\)")


@pytest.fixture
def small_volume(tmp_path):
    """A 1 MiB tmpfs (root only: a real ENOSPC and a real read-only remount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill up or make read-only needs root")
    mount_point = tmp_path / "volume"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(volume, leave_bytes: int) -> None:
    """Fill the volume with a filler file, leaving about ``leave_bytes`` free."""
    stat = os.statvfs(volume)
    free = stat.f_bavail * stat.f_frsize
    with open(volume / "filler", "wb") as fh:
        fh.write(b"\0" * max(free - leave_bytes, 0))


def acknowledged(agent_log: str) -> set[tuple[str, str, str]]:
    return {(c, d, i) for c, d, i, _how in DELIVERED_RE.findall(agent_log)}


def test_full_volume_is_507_and_nothing_unwritten_is_acknowledged(small_volume, receivers, figures):
    data_dir = small_volume  # the receiver's log goes next to it, off the volume
    rec = receivers(data_dir, KEY).start()
    fill(small_volume, 120 * 1024)
    statuses, acked = [], []
    for i in range(60):  # ~20 KiB drops until the volume is full
        manifest, gz = make_drop(cluster="full", text=sacct_text(400, tag=f"{i}-") + os.urandom(6000).hex().encode())
        response = httpx.post(
            rec.url + "/api/data/ingest",
            content=drop_body(manifest, gz),
            headers={"X-API-Key": KEY, "Content-Type": "application/x-slurm-usage-drop"},
            timeout=30,
        )
        statuses.append(response.status_code)
        if response.status_code == 200:
            acked.append(response.json()["drop_id"])
    on_disk = {d["drop_id"]: d for d in landed(data_dir)}
    missing = [a for a in acked if a not in on_disk or on_disk[a]["text_sha256"] != on_disk[a]["sha256"]]
    health = httpx.get(rec.url + "/api/dashboard/health", timeout=10).status_code
    counts = dict(sorted(collections.Counter(statuses).items()))
    figures.record(
        "Disk full: receiver on a 1 MiB tmpfs filled to ~120 KiB free",
        f"{len(statuses)} uploads of ~20 KiB drops",
        f"statuses {counts}; {len(acked)} acknowledged, all complete on disk; health {health}",
        lost=len(missing),
        duplicates=0,
    )
    assert missing == []
    assert statuses.count(507) > 0 and set(statuses) <= {200, 507}


def test_agent_keeps_its_spool_while_the_volume_is_full_or_read_only(
    small_volume, receivers, demo_slurm_bin, tmp_path, figures
):
    data_dir = small_volume  # the receiver's log goes next to it, off the volume
    rec = receivers(data_dir, KEY).start()
    agent = make_agent(tmp_path / "agent", "alpha", demo_slurm_bin, rec.url, KEY, jobs_per_day=150)
    expected = tmp_path / "expected"
    assert agent.run("--output-dir", str(expected), "--start-date", DAYS[0], "--end-date", DAYS[1]).returncode == 0
    n_days = len(list(expected.glob("alpha/*/*.manifest.json")))

    # 1. Full: room for a few drops at most; the rest is refused with 507 and stays in the spool.
    fill(small_volume, 150 * 1024)
    full = agent.run("--start-date", DAYS[0], "--end-date", DAYS[1])
    log_full = full.stderr.decode()
    acked_full = acknowledged(log_full)
    spooled_full = len(agent.spooled())
    on_disk = {(d["cluster"], d["day"], d["drop_id"]) for d in landed(data_dir)}
    assert full.returncode == 4 and "507" in log_full, log_full[-3000:]
    assert acked_full <= on_disk  # nothing acknowledged that is not on disk
    assert spooled_full + len(on_disk) >= n_days

    # 2. Read-only: 503 (health and ingest); the spool is kept.
    (small_volume / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(small_volume)], check=True)
    read_only = agent.run("--start-date", DAYS[0], "--end-date", DAYS[1])
    log_ro = read_only.stderr.decode()
    spooled_ro = len(agent.spooled())
    assert read_only.returncode == 4 and "503" in log_ro, log_ro[-3000:]
    assert spooled_ro >= spooled_full

    # 3. Writable again: everything is delivered, once.
    subprocess.run(["mount", "-o", "remount,rw", str(small_volume)], check=True)
    ok = agent.run("--start-date", DAYS[0], "--end-date", DAYS[1])
    assert ok.returncode == 0, ok.stderr.decode()[-3000:]
    drops = landed(data_dir)
    per_day = collections.Counter(d["day"] for d in drops)
    expected_sha = {}
    for manifest in expected.glob("alpha/*/*.manifest.json"):
        expected_sha[manifest.parent.name] = manifest.name.split(".")[0]
    got_sha = {d["day"]: d["drop_id"] for d in drops}
    lost = sorted(set(expected_sha) - set(got_sha))
    duplicates = sum(n - 1 for n in per_day.values())
    figures.record(
        "Disk full, then read-only data dir: real agent -> real receiver on a 1 MiB tmpfs",
        f"1 agent x {n_days} days; volume full (~150 KiB free), then remounted read-only, then rw",
        f"full: exit 4 (HTTP 507), {len(acked_full)} acknowledged and on disk, {spooled_full} spooled; "
        f"read-only: exit 4 (HTTP 503), {spooled_ro} spooled; rw again: all delivered, spool empty",
        lost=len(lost),
        duplicates=duplicates,
    )
    assert agent.spooled() == []
    assert lost == [] and duplicates == 0 and got_sha == expected_sha
