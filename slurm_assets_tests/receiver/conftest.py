"""Receiver test helpers: native drops built like the agent builds them, and a live server in a subprocess."""

import datetime as dt
import hashlib
import ipaddress
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from slurm_assets_tests.drops import HEADER, drop_body, make_drop, sacct_text  # noqa: F401 (re-exported)
from slurm_assets.demo.services import terminate
from slurm_assets_tests.ports import free_port

RECEIVER_BIN = Path(sys.executable).parent / "slurm-usage-receiver"
NATIVE = "application/x-slurm-usage-drop"
# Keys for the live servers: one shared by every cluster (the seed's form), one bound to alpha,
# one stored only as a sha256 hash.
SHARED_KEY = "shared-key-0123456789"
ALPHA_KEY = "alpha-only-key-abcdef"
HASHED_KEY = "hashed-key-zyxw"
HASHED_ENTRY = f"sha256:{hashlib.sha256(HASHED_KEY.encode()).hexdigest()}:beta+gamma"
API_KEYS = f"{SHARED_KEY},{ALPHA_KEY}:alpha,{HASHED_ENTRY}"
# Small limits so the 413 tests stay small and fast.
MAX_BODY = 2 * 1024 * 1024
MAX_TEXT = 8 * 1024 * 1024
MAX_JSON = 1024 * 1024


def native_headers(key: str | None = SHARED_KEY) -> dict:
    headers = {"Content-Type": NATIVE}
    if key is not None:
        headers["X-API-Key"] = key
    return headers


def stored_files(data_dir: Path) -> list[Path]:
    """Every file under data_dir except the lock files and the (empty) spool folder."""
    return sorted(p for p in Path(data_dir).rglob("*") if p.is_file() and p.name != ".lock")


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) in ``folder``: self-signed CA certificate for localhost/127.0.0.1, 1 day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "slurm-usage-receiver test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class LiveReceiver:
    url: str
    pid: int
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def run_receiver(
    workdir: Path,
    *extra_args: str,
    env: dict | None = None,
    scheme: str = "http",
    verify=True,
):
    """Start ``slurm-usage-receiver`` in a subprocess (cwd ``workdir``, no .env) and wait until it answers."""
    data_dir = workdir / "data"
    log_path = workdir / "receiver.log"
    port = free_port()
    full_env = {
        **os.environ,
        "API_KEYS": API_KEYS,
        "SLURM_USAGE_MAX_BODY_BYTES": str(MAX_BODY),
        "SLURM_USAGE_MAX_TEXT_BYTES": str(MAX_TEXT),
        "SLURM_USAGE_MAX_JSON_BYTES": str(MAX_JSON),
        **(env or {}),
    }
    full_env = {k: v for k, v in full_env.items() if v is not None}  # env={"X": None} unsets X
    cmd = [
        str(RECEIVER_BIN),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *extra_args,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"receiver exited with {proc.returncode}: {log_path.read_text()}")
            try:
                if httpx.get(f"{url}/api/dashboard/health", verify=verify, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"receiver did not answer on {url} within 60 s: {log_path.read_text()}")
            time.sleep(0.2)
        yield LiveReceiver(url, proc.pid, data_dir, log_path)
    finally:
        terminate(proc, 15)


@pytest.fixture(scope="module")
def live_receiver(tmp_path_factory):
    """One plain-HTTP receiver per test module (small limits, the keys above)."""
    with run_receiver(tmp_path_factory.mktemp("receiver")) as server:
        yield server
