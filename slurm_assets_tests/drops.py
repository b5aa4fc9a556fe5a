"""Native drops built exactly as the agent builds them (docs/DROP_FORMAT.md), for tests of every part."""

import datetime as dt
import gzip
import hashlib
import json

from slurm_assets.storage import landing, paths

HEADER = "JobID|JobIDRaw|User|Account|Partition|State|Submit|Start|End|Elapsed|AllocCPUS|AllocTRES"


def sacct_text(n_jobs: int = 3, day: str = "2024-05-01", tag: str = "") -> bytes:
    """``sacct --parsable2`` text with a header and ``n_jobs`` allocation lines ending on ``day``."""
    lines = [HEADER]
    for i in range(1, n_jobs + 1):
        lines.append(
            f"{i}|{i}|u{tag}{i % 3}|acct|cpu|COMPLETED|{day}T01:00:00|{day}T01:00:05|{day}T02:00:05|"
            f"01:00:00|4|billing=4,cpu=4,mem=4G,node=1"
        )
    return ("\n".join(lines) + "\n").encode()


def make_drop(text: bytes | None = None, **overrides) -> tuple[dict, bytes]:
    """(manifest, gzip bytes) as the agent writes them (gzip mtime=0, docs/DROP_FORMAT.md)."""
    text = sacct_text() if text is None else text
    gz = gzip.compress(text, mtime=0)
    manifest = {
        "format": landing.DROP_FORMAT,
        "cluster": "alpha",
        "day": "2024-05-01",
        "window_start": "2024-05-01T00:00:00Z",
        "window_end": "2024-05-02T00:00:00Z",
        "collected_at": "2024-05-02T02:00:00Z",
        "sacct_version": "slurm 22.05.8",
        "fields": HEADER.split("|"),
        "rows": max(text.count(b"\n") - 1, 0),
        "sha256": hashlib.sha256(text).hexdigest(),
        "gzip_size": len(gz),
        "agent_version": "test",
        "source": "push",
        "inventory": None,
    }
    manifest.update(overrides)
    return manifest, gz


def drop_body(manifest: dict, gz: bytes) -> bytes:
    """A push body: the manifest as one JSON line, then the gzip bytes."""
    return json.dumps(manifest).encode() + b"\n" + gz


def write_landed(data_dir, manifest: dict, gz: bytes, raw_manifest: bytes | None = None) -> tuple:
    """Write a drop's two files straight into ``DATA_DIR/landing`` (as ``agent --output-dir`` or a file copy does),
    with no check at all: how unchecked drops reach the pipeline. ``raw_manifest`` replaces the JSON (malformed)."""
    data_path, manifest_path = landing.drop_paths(
        data_dir, manifest["cluster"], manifest["day"], landing.drop_id_for(manifest["sha256"])
    )
    data_path.parent.mkdir(parents=True, exist_ok=True)
    data_path.write_bytes(gz)
    manifest_path.write_bytes(json.dumps(manifest).encode() if raw_manifest is None else raw_manifest)
    return data_path, manifest_path


def write_big_drop(data_dir, cluster: str, day: str, text_bytes: int, distinct_jobs: int) -> dict:
    """Land a drop of about ``text_bytes`` of sacct text, generated and gzipped as a stream (never whole in
    memory): ``distinct_jobs`` jobs ending on ``day``, repeated until the size is reached (a re-collection
    pasted many times, as the 1 GiB push of issue 18 compressed to 15 MB). Returns the manifest."""
    block = b"".join(
        f"{i}|{i}|u{i % 50}|acct{i % 7}|cpu|COMPLETED|{day}T01:00:00|{day}T01:00:05|{day}T{2 + i % 20:02d}:00:05|"
        f"01:00:00|{1 + i % 64}|billing=4,cpu=4,mem=4G,node=1\n".encode()
        for i in range(1, distinct_jobs + 1)
    )
    header = (HEADER + "\n").encode()
    sha, size, rows = hashlib.sha256(header), len(header), 0
    folder = paths.landing_day_dir(data_dir, cluster, day)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".big.tmp"
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz:
        gz.write(header)
        while size < text_bytes:
            gz.write(block)
            sha.update(block)
            size += len(block)
            rows += distinct_jobs
    digest = sha.hexdigest()
    data_path, manifest_path = landing.drop_paths(data_dir, cluster, day, landing.drop_id_for(digest))
    tmp.rename(data_path)
    after = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    manifest, _ = make_drop(
        b"",
        cluster=cluster,
        day=day,
        window_start=f"{day}T00:00:00Z",
        window_end=f"{after}T00:00:00Z",
        collected_at=f"{after}T02:00:00Z",
        rows=rows,
        sha256=digest,
        gzip_size=data_path.stat().st_size,
    )
    manifest_path.write_text(json.dumps(manifest))
    return manifest
