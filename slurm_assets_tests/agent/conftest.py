"""Agent test helpers: the exporter loaded from its hyphenated file, a fake sacct/scontrol on PATH,
and the real receiver (``slurm-usage-receiver``) in a subprocess."""

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from slurm_assets.demo.services import terminate
from slurm_assets_tests.ports import free_port
from slurm_assets_tests.receiver.conftest import self_signed_cert

REPO = Path(__file__).resolve().parents[2]
AGENT_DIR = REPO / "agent"
AGENT_FILE = AGENT_DIR / "slurm-usage-history-exporter.py"
DATA = Path(__file__).parent / "data"
CRAFTED = DATA / "sacct_crafted.psv"
RECEIVER_BIN = Path(sys.executable).parent / "slurm-usage-receiver"
KEY = "agent-test-key-0123456789"
ALPHA_ONLY_KEY = "alpha-only-key-9876543210"

# A stand-in for sacct: serves a crafted --parsable2 text, keeping the rows active in [-S, -E)
# (as sacct does) and only the requested --format columns (JobName last absorbs extra '|').
# Every call is appended to $FAKE_SACCT_LOG as a JSON argv list. (`-S`: no site import, a faster start.)
FAKE_SACCT = r"""#!/usr/bin/python3 -S
import json, os, sys, time
args = sys.argv[1:]
log = os.environ.get("FAKE_SACCT_LOG")
if log:
    with open(log, "a") as fh:
        fh.write(json.dumps(args) + "\n")
if args == ["--version"]:
    print(os.environ.get("FAKE_SACCT_VERSION", "slurm 22.05.8")); sys.exit(0)
if args == ["--helpformat"]:
    sys.stdout.write(open(os.environ["FAKE_SACCT_HELPFORMAT"]).read()); sys.exit(0)
if os.environ.get("FAKE_SACCT_FAIL"):
    sys.stderr.write(os.environ["FAKE_SACCT_FAIL"] + "\n"); sys.exit(1)
if os.environ.get("FAKE_SACCT_SLEEP"):
    time.sleep(float(os.environ["FAKE_SACCT_SLEEP"]))
fmt = [a for a in args if a.startswith("--format=")][0][len("--format="):].split(",")
start, end = args[args.index("-S") + 1], args[args.index("-E") + 1]
lines = open(os.environ["FAKE_SACCT_TEXT"]).read().splitlines()
header = lines[0].split("|")
out = ["|".join(fmt)]
keep = set()
for line in lines[1:]:
    row = dict(zip(header, line.split("|", len(header) - 1)))
    parent = row["JobID"].split(".")[0]
    if "." not in row["JobID"]:
        begin = row["Start"] if row["Start"] not in ("Unknown", "None") else row["Submit"]
        active = begin < end and (row["End"] == "Unknown" or row["End"] >= start)
        if active:
            keep.add((parent, row["Submit"]))
        else:
            keep.discard((parent, row["Submit"]))
    if (parent, row["Submit"]) in keep:
        out.append("|".join(row.get(f, "") for f in fmt))
sys.stdout.write("\n".join(out) + "\n")
"""

FAKE_SCONTROL = r"""#!/usr/bin/python3 -S
import os, sys
args = sys.argv[1:]
if args[:2] == ["show", "config"]:
    print("Configuration data as of 2024-05-01T00:00:00")
    print("ClusterName             = " + os.environ.get("FAKE_CLUSTER", "alpha")); sys.exit(0)
if args[:2] == ["show", "node"]:
    sys.stdout.write(open(os.environ["FAKE_SCONTROL_NODES"]).read()); sys.exit(0)
sys.exit(2)
"""

# A stand-in for sacctmgr: real 22.05 captures (the testbed's, with bob as coordinator of physics).
FAKE_SACCTMGR = r"""#!/usr/bin/python3 -S
import os, sys
args = sys.argv[1:]
if os.environ.get("FAKE_SACCTMGR_FAIL"):
    sys.stderr.write(os.environ["FAKE_SACCTMGR_FAIL"] + "\n"); sys.exit(1)
if args[:3] == ["-P", "show", "associations"]:
    sys.stdout.write(open(os.environ["FAKE_SACCTMGR_ASSOC"]).read()); sys.exit(0)
if args == ["-P", "show", "account", "withcoord"]:
    sys.stdout.write(open(os.environ["FAKE_SACCTMGR_COORD"]).read()); sys.exit(0)
if args[:3] == ["-P", "show", "event"]:
    sys.stdout.write(open(os.environ["FAKE_SACCTMGR_EVENT"]).read()); sys.exit(0)
sys.exit(2)
"""
# sreport stand-in: the real 22.05 `sreport -P -t seconds cluster utilization --tres=cpu,gres/gpu` capture.
FAKE_SREPORT = r"""#!/usr/bin/python3 -S
import os, sys
if os.environ.get("FAKE_SREPORT_FAIL"):
    sys.stderr.write(os.environ["FAKE_SREPORT_FAIL"] + "\n"); sys.exit(1)
if sys.argv[1:6] == ["-P", "-t", "seconds", "cluster", "utilization"]:
    sys.stdout.write(open(os.environ["FAKE_SREPORT_UTIL"]).read()); sys.exit(0)
sys.exit(2)
"""


def load_agent():
    """Import the hyphenated agent file as a module (STYLE.md: the slurm2sql way)."""
    spec = importlib.util.spec_from_file_location("slurm_usage_history_exporter", AGENT_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def agent():
    return load_agent()


@dataclass
class FakeSlurm:
    bin_dir: Path
    log: Path
    env: dict

    @property
    def sacct(self) -> Path:
        return self.bin_dir / "sacct"

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def windows(self) -> list[tuple[str, str]]:
        return [(c[c.index("-S") + 1], c[c.index("-E") + 1]) for c in self.calls() if "-S" in c]


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> FakeSlurm:
    """sacct and scontrol stand-ins first on PATH (also in os.environ, for main() in-process)."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for name, text in (
        ("sacct", FAKE_SACCT),
        ("scontrol", FAKE_SCONTROL),
        ("sacctmgr", FAKE_SACCTMGR),
        ("sreport", FAKE_SREPORT),
    ):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "sacct-calls.jsonl"
    values = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_SACCT_LOG": str(log),
        "FAKE_SACCT_TEXT": str(CRAFTED),
        "FAKE_SACCT_HELPFORMAT": str(DATA / "sacct_helpformat_22.05.txt"),
        "FAKE_SCONTROL_NODES": str(DATA / "scontrol_show_node_22.05.txt"),
        "FAKE_SACCTMGR_ASSOC": str(DATA / "sacctmgr_associations_22.05.txt"),
        "FAKE_SACCTMGR_COORD": str(DATA / "sacctmgr_withcoord_22.05.txt"),
        "FAKE_SACCTMGR_EVENT": str(DATA / "sacctmgr_event_22.05.txt"),
        "FAKE_SREPORT_UTIL": str(DATA / "sreport_utilization_22.05.txt"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SLURM_USAGE_SACCT", raising=False)
    monkeypatch.delenv("SLURM_USAGE_API_KEY", raising=False)
    return FakeSlurm(bin_dir, log, dict(os.environ))


@dataclass
class Receiver:
    url: str
    data_dir: Path
    port: int
    proc: subprocess.Popen | None = None
    extra_args: tuple = ()
    log_path: Path | None = None

    def start(self) -> "Receiver":
        env = dict(os.environ, API_KEYS=f"{KEY},{ALPHA_ONLY_KEY}:beta")
        env.pop("SLURM_USAGE_DATA_DIR", None)
        self.log_path = self.data_dir.parent / f"receiver-{self.port}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                str(RECEIVER_BIN),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                *self.extra_args,
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir.parent,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"receiver exited {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"receiver did not listen on {self.port} within 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            terminate(self.proc, 15)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def landed(self) -> list[Path]:
        return sorted((self.data_dir / "landing").glob("*/*/*.manifest.json"))


@pytest.fixture
def receiver_factory(tmp_path):
    """Build (not start) receivers on free ports; every one started is stopped at teardown."""
    if not RECEIVER_BIN.exists():
        pytest.skip(f"{RECEIVER_BIN} missing: pip install -e . (the receiver's console script)")
    made: list[Receiver] = []

    def make(scheme: str = "http", extra_args: tuple = ()) -> Receiver:
        port = free_port()
        data_dir = tmp_path / f"server-{port}"
        data_dir.mkdir()
        rec = Receiver(f"{scheme}://127.0.0.1:{port}", data_dir, port, extra_args=extra_args)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.stop()


@pytest.fixture
def receiver(receiver_factory) -> Receiver:
    return receiver_factory().start()


@pytest.fixture
def self_signed(tmp_path) -> tuple[Path, Path]:
    """``(cert, key)``: a self-signed certificate for 127.0.0.1 and localhost, for a receiver serving HTTPS."""
    return self_signed_cert(tmp_path)
