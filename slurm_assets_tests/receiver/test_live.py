"""Protects issue 9's "Done when" over real HTTP: the console script ``slurm-usage-receiver`` in a subprocess.

Seed curl example (200 / 401), cross-cluster 403, traversal names 422 with nothing
written outside the landing zone, duplicates stored once, 20 concurrent uploads intact,
oversized bodies and gzip bombs 413 with bounded server memory, schemathesis finds
no 5xx, and TLS with a self-signed certificate verified by the client.
"""

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from slurm_assets.storage import landing
from slurm_assets_tests.receiver.conftest import (
    ALPHA_KEY,
    MAX_BODY,
    MAX_JSON,
    SHARED_KEY,
    drop_body,
    make_drop,
    native_headers,
    run_receiver,
    sacct_text,
    self_signed_cert,
    stored_files,
)

INGEST = "/api/data/ingest"


def all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_dir()}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_seed_curl_example_gets_200_with_key_and_401_without(live_receiver):
    # The seed README's example, verbatim apart from host and key.
    base = [
        "curl",
        "-sS",
        "-o",
        "/dev/stdout",
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
        f"{live_receiver.url}{INGEST}",
        "-H",
        "Content-Type: application/json",
        "-d",
        '{"hostname":"test","jobs":[]}',
    ]
    with_key = subprocess.run(
        [*base, "-H", f"X-API-Key: {SHARED_KEY}"],
        capture_output=True,
        text=True,
        check=True,
    )
    without = subprocess.run(base, capture_output=True, text=True, check=True)
    body, code = with_key.stdout.rsplit("\n", 1)
    assert code == "200" and json.loads(body)["status"] == "ok" and json.loads(body)["rows"] == 0
    assert without.stdout.rsplit("\n", 1)[1] == "401"


def test_cross_cluster_is_403_and_traversal_names_are_422_writing_nothing(
    live_receiver,
):
    workdir = live_receiver.data_dir.parent
    before = all_files(workdir)
    manifest, gz = make_drop(cluster="beta")
    response = httpx.post(
        f"{live_receiver.url}{INGEST}",
        content=drop_body(manifest, gz),
        headers=native_headers(ALPHA_KEY),
    )
    assert response.status_code == 403
    for name in ["../x", "a/b", "", "x" * 300, "..", "/etc", "a\\b"]:
        manifest, gz = make_drop(cluster=name)
        native = httpx.post(
            f"{live_receiver.url}{INGEST}",
            content=drop_body(manifest, gz),
            headers=native_headers(),
        )
        seed = httpx.post(
            f"{live_receiver.url}{INGEST}",
            json={"hostname": name, "jobs": []},
            headers={"X-API-Key": SHARED_KEY},
        )
        assert (native.status_code, seed.status_code) == (422, 422), (
            name,
            native.text,
            seed.text,
        )
        assert "invalid cluster name" in native.json()["detail"]
    created = all_files(workdir) - before
    landing_root = live_receiver.data_dir / "landing"
    assert all(p == landing_root or landing_root in p.parents for p in created), created
    assert not [p for p in created if p.is_file() and p.name != ".lock"]  # no drop, no spool left behind
    assert not (workdir / "x").exists() and not (live_receiver.data_dir / "x").exists()


def test_duplicate_drop_is_stored_once(live_receiver):
    manifest, gz = make_drop(cluster="dup", text=sacct_text(5))
    answers = [
        httpx.post(
            f"{live_receiver.url}{INGEST}",
            content=drop_body(manifest, gz),
            headers=native_headers(),
        ).json()
        for _ in range(3)
    ]
    assert [a["duplicate"] for a in answers] == [False, True, True]
    assert len({a["drop_id"] for a in answers}) == 1
    assert len(stored_files(live_receiver.data_dir / "landing" / "dup")) == 2  # one .psv.gz + one manifest


def test_twenty_concurrent_uploads_all_land_intact(live_receiver):
    # Same cluster and day for half of them (same lock, same folder), a second cluster for the rest.
    drops = [make_drop(cluster="conc" if i % 2 else "conc2", text=sacct_text(200 + i, tag=str(i))) for i in range(20)]

    def push(drop):
        manifest, gz = drop
        return httpx.post(
            f"{live_receiver.url}{INGEST}",
            content=drop_body(manifest, gz),
            headers=native_headers(),
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(push, drops))
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses if r.status_code != 200]
    stored = {r.drop_id: r for r in landing.list_drops(live_receiver.data_dir) if r.cluster.startswith("conc")}
    assert len(stored) == 20
    for manifest, _gz in drops:
        ref = stored[manifest["sha256"][:16]]
        assert hashlib.sha256(gzip.decompress(ref.data_path.read_bytes())).hexdigest() == manifest["sha256"]
        assert ref.manifest()["rows"] == manifest["rows"]


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no VmHWM line")


def _gzip_of_zeros(size: int) -> bytes:
    """gzip of ``size`` zero bytes, built in 1 MiB steps (the test itself stays small)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [comp.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + comp.flush()


def test_oversized_and_gzip_bomb_bodies_are_413_with_bounded_memory(tmp_path):
    # A generous text limit (128 MiB) so that a receiver which decompressed up to the limit in
    # memory would show it; the bomb is twice that.
    text_limit = 128 * 1024 * 1024
    bomb_size = 2 * text_limit
    bomb = _gzip_of_zeros(bomb_size)
    bomb_manifest, _ = make_drop(sha256="0" * 64, rows=0, gzip_size=len(bomb))
    oversized = os.urandom(3 * MAX_BODY)
    json_oversized = json.dumps({"hostname": "alpha", "jobs": [{"Name": "y" * 1000}] * (2 * MAX_JSON // 1000)})
    with run_receiver(tmp_path, env={"SLURM_USAGE_MAX_TEXT_BYTES": str(text_limit)}) as server:
        url = f"{server.url}{INGEST}"
        # Warm up the code paths once, so the measurement below sees only what the bodies cost.
        assert httpx.post(url, content=drop_body(*make_drop()), headers=native_headers()).status_code == 200
        before = _vm_hwm_kib(server.pid)
        big = httpx.post(
            url,
            content=drop_body(make_drop()[0], oversized),
            headers=native_headers(),
            timeout=120,
        )
        bombed = httpx.post(
            url,
            content=drop_body(bomb_manifest, bomb),
            headers=native_headers(),
            timeout=120,
        )
        chunked = httpx.post(
            url,
            content=iter([oversized[i : i + 65536] for i in range(0, len(oversized), 65536)]),
            headers=native_headers(),
            timeout=120,
        )
        big_json = httpx.post(
            url,
            content=json_oversized.encode(),
            timeout=120,
            headers={"X-API-Key": SHARED_KEY, "Content-Type": "application/json"},
        )
        growth_kib = _vm_hwm_kib(server.pid) - before
        assert (
            big.status_code,
            bombed.status_code,
            chunked.status_code,
            big_json.status_code,
        ) == (413,) * 4
        assert "SLURM_USAGE_MAX_TEXT_BYTES" in bombed.json()["detail"]
        # The bomb is 256 MiB decompressed (limit 128 MiB), the bodies 6 MiB: the peak grew by far less.
        assert growth_kib < 48 * 1024, f"server peak RSS grew by {growth_kib} KiB"
        assert len(landing.list_drops(server.data_dir)) == 1  # only the warm-up drop


def test_schemathesis_finds_no_server_error(live_receiver, tmp_path):
    st = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [
            str(st),
            "run",
            f"{live_receiver.url}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--header",
            f"X-API-Key: {SHARED_KEY}",
            "--max-examples",
            "40",
            "--workers",
            "1",
            "--seed",
            "20240501",
            "--phases",
            "examples,coverage,fuzzing",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # the exit code is asserted below, with the report
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    generated, passed = re.search(r"(\d+) generated, (\d+) passed", result.stdout).groups()
    assert int(generated) > 20 and generated == passed, result.stdout[-3000:]
    assert "status=500" not in live_receiver.log()


def test_tls_with_a_self_signed_certificate(tmp_path):
    cert, key = self_signed_cert(tmp_path)
    args = ("--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    with run_receiver(tmp_path, *args, scheme="https", verify=str(cert)) as server:
        manifest, gz = make_drop(cluster="tls")
        response = httpx.post(
            f"{server.url}{INGEST}",
            content=drop_body(manifest, gz),
            headers=native_headers(),
            verify=str(cert),
        )
        assert response.status_code == 200 and response.json()["drop_id"] == manifest["sha256"][:16]
        # A client that does not trust the certificate refuses to talk: verification is real.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{server.url}/api/dashboard/health")
        # Plain HTTP on the TLS port gets nowhere.
        with pytest.raises(httpx.HTTPError):
            httpx.get(
                f"http://{server.url.removeprefix('https://')}/api/dashboard/health",
                timeout=5,
            )
    assert [r.cluster for r in landing.list_drops(server.data_dir)] == ["tls"]


def test_audit_log_has_a_line_per_request_and_never_the_key(live_receiver):
    response = httpx.post(
        f"{live_receiver.url}{INGEST}",
        content=drop_body(*make_drop(cluster="audit")),
        headers=native_headers(),
    )
    assert response.status_code == 200
    httpx.post(
        f"{live_receiver.url}{INGEST}",
        json={"hostname": "audit", "jobs": []},
        headers={"X-API-Key": "wrong-key-123"},
    )
    key_id = hashlib.sha256(SHARED_KEY.encode()).hexdigest()[:8]
    # The line is written once the response has been sent: wait for the 401's line (bounded).
    deadline = time.monotonic() + 60
    while True:
        log = live_receiver.log()
        records = [
            json.loads(line.split("slurm_assets.receiver.audit: ", 1)[1])
            for line in log.splitlines()
            if "slurm_assets.receiver.audit: " in line
        ]
        if any(r["status"] == 401 for r in records) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    stored = [r for r in records if r["status"] == 200 and r["cluster"] == "audit"]
    assert stored and stored[-1]["key"] == key_id and stored[-1]["rows"] == 3
    assert stored[-1]["drops"] == [response.json()["drop_id"]] and stored[-1]["remote"] == "127.0.0.1"
    assert any(r["status"] == 401 and r["key"] is None and r["cluster"] is None for r in records)
    assert SHARED_KEY not in log and ALPHA_KEY not in log and "wrong-key-123" not in log
