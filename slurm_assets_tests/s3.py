"""A throwaway S3 endpoint for tests: ``moto`` in server mode (``python -m moto.server``) on a free loopback port.

One server per pytest session (``moto_server`` in the conftest), one fresh bucket per test (``s3_bucket``),
which also sets the standard ``AWS_*`` variables the data root reads (``slurm_assets/storage/fs.py``):
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``.
The server runs as a subprocess, not a thread of the test process, so subprocesses the tests start
(receiver, ``process``, Dagster) reach it just the same; it keeps everything in memory and is killed
at the end of the session.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from slurm_assets_tests.ports import free_port

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"
START_ATTEMPTS = 3  # a free port can be taken between free_port() and the server's bind
START_TIMEOUT_S = 120.0
_BUCKETS = itertools.count()


def why_moto_cannot_run() -> str | None:
    """The reason this machine cannot start a moto S3 server for the tests, or None when it can."""
    for module, package in (
        ("moto.server", "moto[server]"),
        ("flask", "moto[server]"),
        ("s3fs", "s3fs"),
        ("boto3", "boto3"),
    ):
        try:
            if importlib.util.find_spec(module) is None:
                raise ImportError(module)
        except ImportError:
            return f"{module} is not installed: pip install '{package}' (the test extras have it)"
    return None


@dataclass
class MotoServer:
    """One running ``moto.server``: ``endpoint`` is its URL (``http://127.0.0.1:<port>``)."""

    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point a client at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def client(self):
        """A boto3 S3 client of this server (for the tests' own checks: list, get, put, delete)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def create_bucket(self, prefix: str = "test") -> str:
        """A new, empty bucket with a unique name; returns the name."""
        name = f"{prefix}-{os.getpid()}-{next(_BUCKETS)}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under ``prefix`` in ``bucket``, sorted."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)


def _ready(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answers
    except OSError:
        return False


def _start_once(log: Path) -> MotoServer:
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = MotoServer(proc, port, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _ready(server.endpoint):
        if proc.poll() is not None:
            raise RuntimeError(f"moto.server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"moto.server did not answer on {server.endpoint} within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.2)
    return server


def start_server() -> MotoServer:
    """A running moto S3 server on 127.0.0.1 (the caller stops it)."""
    reason = why_moto_cannot_run()
    if reason:
        raise RuntimeError(reason)
    fd, log_name = tempfile.mkstemp(prefix="slurm-usage-moto-", suffix=".log")
    os.close(fd)
    for attempt in range(START_ATTEMPTS):
        try:
            return _start_once(Path(log_name))
        except RuntimeError:
            if attempt == START_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class S3Bucket:
    """A test's bucket on the session's moto server; ``url`` is a data root in it (``s3://<bucket>/data``)."""

    server: MotoServer
    name: str
    prefix: str = "data"

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{self.prefix}"

    def keys(self, under: str = "") -> list[str]:
        """Object keys below the data root (relative to it), sorted: ``landing/alpha/2026-03-01/<id>.psv.gz``."""
        base = f"{self.prefix}/"
        return [k[len(base) :] for k in self.server.keys(self.name, base + under)]

    def env(self) -> dict[str, str]:
        """The AWS variables plus ``SLURM_USAGE_DATA_DIR`` for subprocesses (receiver, process)."""
        return {**self.server.env(), "SLURM_USAGE_DATA_DIR": self.url}
