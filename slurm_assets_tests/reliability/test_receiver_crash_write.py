"""Protects issue 8 "Crash mid-write" for the receiver: ``kill -9`` of the real receiver at each phase of
storing a large drop (body being spooled; body complete and being verified and fsynced; manifest being
written beside the day's files; data renamed into place but manifest not yet) never lets a reader (``landing.list_drops``,
the pipeline's loader) see a partial drop, and resending after a restart stores it exactly once.
"""

import hashlib
import os
import threading
import time
from pathlib import Path

import httpx

from slurm_assets.storage import landing
from slurm_assets_tests.receiver.conftest import drop_body, make_drop, sacct_text
from slurm_assets_tests.reliability.conftest import landed

KEY = "crash-write-key-0123456789abcdef"
PHASES = ("spooling", "verifying", "committing", "data_without_manifest")


def big_drop(seed: int) -> tuple[dict, bytes]:
    """A valid drop with ~24 MiB of gzip (random hex lines), so each phase lasts long enough to catch."""
    rng = hashlib.sha256(str(seed).encode())
    lines = [os.urandom(600).hex().encode() for _ in range(20_000)]
    text = sacct_text(3, tag=rng.hexdigest()[:6]) + b"\n".join(lines) + b"\n"
    return make_drop(text=text, cluster="crash")


def phase_now(data_dir: Path, drop_id: str, gzip_size: int, stale_parts: set[str]) -> str | None:
    """Which phase of storing drop ``drop_id`` the receiver is in, judged from the files it writes.

    The spool file holds the body after the manifest line (the gzip data), so it is complete at
    ``gzip_size`` bytes; the verified spool file becomes the data file by a rename.
    """
    day_dir = data_dir / "landing" / "crash" / "2024-05-01"
    if day_dir.exists():
        names = os.listdir(day_dir)
        if any(n.startswith(f".{drop_id}.manifest.json") and n.endswith(".tmp") for n in names):
            return "committing"
        if f"{drop_id}.psv.gz" in names and f"{drop_id}.manifest.json" not in names:
            return "data_without_manifest"
    incoming = data_dir / "landing" / ".incoming"
    for part in incoming.glob("upload-*.part") if incoming.exists() else []:
        if part.name in stale_parts:
            continue  # left by an earlier kill
        try:
            size = part.stat().st_size
        except FileNotFoundError:
            continue
        return "verifying" if size >= gzip_size else "spooling"
    return None


def test_kill_9_at_each_phase_of_storing_a_drop(tmp_path, receivers, figures):
    data_dir = tmp_path / "server" / "data"
    data_dir.mkdir(parents=True)
    rec = receivers(data_dir, KEY)
    seen = {}
    for n, target in enumerate(PHASES):
        manifest, gz = big_drop(n)
        body = drop_body(manifest, gz)
        rec.start()
        answer: dict = {}
        incoming = data_dir / "landing" / ".incoming"
        stale = {p.name for p in incoming.glob("upload-*.part")} if incoming.exists() else set()
        drop_id = manifest["sha256"][:16]

        def upload(body=body, answer=answer):
            try:
                answer["status"] = httpx.post(
                    rec.url + "/api/data/ingest",
                    content=body,
                    timeout=120,
                    headers={"X-API-Key": KEY, "Content-Type": "application/x-slurm-usage-drop"},
                ).status_code
            except httpx.TransportError as err:
                answer["error"] = type(err).__name__

        thread = threading.Thread(target=upload)
        thread.start()
        caught = None
        deadline = time.monotonic() + 120
        while thread.is_alive() and time.monotonic() < deadline:
            phase = phase_now(data_dir, drop_id, len(gz), stale)
            if phase == target:
                rec.kill9()
                caught = phase
                break
        thread.join(120)
        rec.kill9()
        # Whatever the moment, a reader sees only complete drops.
        visible = landed(data_dir)
        assert all(d["text_sha256"] == d["sha256"] for d in visible)
        acknowledged = answer.get("status") == 200
        stored = any(d["sha256"] == manifest["sha256"] for d in visible)
        assert stored or not acknowledged, "acknowledged but not stored"
        # Resend after a restart: stored exactly once.
        rec.start()
        again = httpx.post(
            rec.url + "/api/data/ingest",
            content=body,
            timeout=120,
            headers={"X-API-Key": KEY, "Content-Type": "application/x-slurm-usage-drop"},
        )
        assert again.status_code == 200
        rec.kill9()
        seen[target] = (caught, answer.get("status") or answer.get("error"), stored)
    drops = [d for d in landed(data_dir) if d["cluster"] == "crash"]
    per_sha: dict[str, int] = {}
    for d in drops:
        per_sha[d["sha256"]] = per_sha.get(d["sha256"], 0) + 1
    caught_phases = [p for p, (c, _a, _s) in seen.items() if c == p]
    leftovers = [
        p.name for p in (data_dir / "landing").rglob("*") if p.is_file() and p.name.endswith((".tmp", ".part"))
    ]
    figures.record(
        "Crash mid-write: kill -9 of the receiver while it stores a ~24 MiB drop",
        f"{len(PHASES)} kill points: {', '.join(PHASES)}",
        "; ".join(
            f"{p}: {'killed in phase' if c == p else 'phase not caught'}, client saw {a}, "
            f"{'stored' if s else 'not stored'}"
            for p, (c, a, s) in seen.items()
        )
        + f"; after resending: {len(drops)} drops, each once; {len(leftovers)} partial files left (never listed)",
        lost=len(PHASES) - len(per_sha),
        duplicates=sum(v - 1 for v in per_sha.values()),
    )
    assert len(per_sha) == len(PHASES) and all(v == 1 for v in per_sha.values())
    assert len(caught_phases) >= 2, seen  # the kills really landed inside the write path
    assert landing.list_drops(data_dir)  # sanity: the listing works over the leftovers
