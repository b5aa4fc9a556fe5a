"""Bench client: N threads POST every drop under a landing folder to the receiver; print latencies as JSON.

python -m bench.upload URL KEY DATA_DIR [--threads 4]
"""

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from slurm_assets.storage import landing


def drop_bodies(data_dir: Path) -> list[bytes]:
    """Each complete drop under ``data_dir/landing`` as one drop-stream body (manifest line + gzip bytes)."""
    bodies = []
    for ref in landing.list_drops(data_dir):
        manifest = ref.manifest()
        manifest["source"] = "push"
        bodies.append(json.dumps(manifest, separators=(",", ":")).encode() + b"\n" + ref.data_path.read_bytes())
    return bodies


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("key")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--threads", type=int, default=4)
    args = p.parse_args(argv)
    bodies = drop_bodies(args.data_dir)
    url = urllib.parse.urlsplit(args.url)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    queue = list(enumerate(bodies))

    def worker() -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
        while True:
            with lock:
                if not queue:
                    break
                _, body = queue.pop()
            t0 = time.perf_counter()
            conn.request(
                "POST",
                "/api/data/ingest",
                body=body,
                headers={"X-API-Key": args.key, "Content-Type": "application/x-slurm-usage-drop"},
            )
            resp = conn.getresponse()
            resp.read()
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                if resp.status != 200:
                    failures.append(f"HTTP {resp.status}")
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    json.dump(
        {
            "requests": len(latencies),
            "failures": failures,
            "latencies_s": sorted(latencies),
            "bytes": sum(len(b) for b in bodies),
        },
        sys.stdout,
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
