"""Push mode of the agent against the real receiver (`slurm-usage-receiver` in a subprocess on
loopback): delivery, 401 and 403 with what to fix, receiver down -> spooled -> delivered first on
the next run with nothing lost or duplicated, HTTPS with a self-signed certificate and ca_bundle,
and the API key never in a log. Retry timing (429/5xx with backoff, never 401/403/413/422) uses a
minimal stand-in server, because the real receiver cannot be told to answer 503 on demand.
"""

import datetime as dt
import http.server
import json
import subprocess
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from slurm_assets.storage import landing
from slurm_assets_tests.agent.conftest import AGENT_FILE, ALPHA_ONLY_KEY, KEY

NOW = dt.datetime(2024, 5, 3, 12, 30, 0, tzinfo=dt.UTC)
DAYS = ["2024-05-01", "2024-05-02", "2024-05-03"]


def push_config(tmp_path: Path, url: str, key: str = KEY, **extra) -> Path:
    values = {
        "api_url": url,
        "api_key": key,
        "cluster_name": "alpha",
        "collection_window_days": 2,
        "spool_dir": str(tmp_path / "spool"),
        "state_file": str(tmp_path / "state.json"),
        "retry_attempts": 2,
        "retry_backoff_seconds": 0,
        "retry_max_backoff_seconds": 0,
        "timeout": 20,
    }
    values.update(extra)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return path


def spooled(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "spool").glob("*.manifest.json"))


def run(agent, config: Path, *args: str) -> int:
    return agent.main(["--config", str(config), *args], now=lambda: NOW, sleep=lambda s: None)


def landed_manifests(receiver) -> list[dict]:
    return [json.loads(p.read_text()) for p in receiver.landed()]


def test_push_delivers_every_day_once(agent, fake_slurm, receiver, tmp_path, capsys):
    config = push_config(tmp_path, receiver.url)
    assert run(agent, config) == 0
    manifests = landed_manifests(receiver)
    assert sorted(m["day"] for m in manifests) == DAYS
    assert {m["source"] for m in manifests} == {"push"}
    assert spooled(tmp_path) == []  # delivered drops leave the spool
    refs = landing.list_drops(receiver.data_dir)
    for ref in refs:  # what landed is what sacct printed, byte for byte
        with open(ref.data_path, "rb") as fh:
            assert landing.digest_gzip_text(fh, 1 << 30).sha256 == ref.manifest()["sha256"]
    err = capsys.readouterr().err
    assert "delivered alpha 2024-05-01" in err and KEY not in err
    # Same moment again: the overlap is re-sent, the receiver answers duplicate, nothing is stored twice.
    assert run(agent, config, "--verbose") == 0
    assert len(receiver.landed()) == 3
    err = capsys.readouterr().err
    assert "already on the server" in err and KEY not in err


def test_wrong_key_is_401_not_retried_and_drops_stay_spooled(agent, fake_slurm, receiver, tmp_path, capsys):
    config = push_config(tmp_path, receiver.url, key="not-a-valid-key-123")
    assert run(agent, config, "--verbose") == agent.EXIT_PUSH
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "API_KEYS" in err and "retry" not in err
    assert "not-a-valid-key-123" not in err
    assert receiver.landed() == []
    assert len(spooled(tmp_path)) == 3  # nothing lost: a fixed key delivers them next run
    push_config(tmp_path, receiver.url)
    assert run(agent, config) == 0
    assert sorted(m["day"] for m in landed_manifests(receiver)) == DAYS and spooled(tmp_path) == []


def test_key_bound_to_another_cluster_is_403_with_the_fix(agent, fake_slurm, receiver, tmp_path, capsys):
    config = push_config(tmp_path, receiver.url, key=ALPHA_ONLY_KEY)  # bound to beta
    assert run(agent, config) == agent.EXIT_PUSH
    err = capsys.readouterr().err
    assert "HTTP 403" in err and "API_KEYS=key:alpha" in err and ALPHA_ONLY_KEY not in err
    assert receiver.landed() == [] and len(spooled(tmp_path)) == 3


def test_receiver_down_spools_then_next_run_delivers_exactly_once(
    agent, fake_slurm, receiver_factory, tmp_path, capsys
):
    rec = receiver_factory()  # not started: the port refuses connections
    config = push_config(tmp_path, rec.url)
    assert run(agent, config) == agent.EXIT_PUSH
    err = capsys.readouterr().err
    assert "cannot connect" in err and "sent first on the next run" in err
    first = {json.loads(p.read_text())["sha256"] for p in spooled(tmp_path)}
    assert len(first) == 3
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["watermarks"]["alpha"] == "2024-05-03T12:30:00Z"  # the data is safe in the spool
    (tmp_path / "spool" / ".tmp-killed-run.psv.gz").write_bytes(b"half")  # a run killed mid-extraction
    rec.start()
    assert run(agent, config) == 0
    assert not (tmp_path / "spool" / ".tmp-killed-run.psv.gz").exists()
    err = capsys.readouterr().err
    assert err.index("sending spooled") < err.index("alpha 2024-05-01 drop")  # spool goes first
    assert spooled(tmp_path) == []
    manifests = landed_manifests(rec)
    assert {m["sha256"] for m in manifests} == first  # re-collected days were identical: duplicates
    assert len(manifests) == 3 and sorted(m["day"] for m in manifests) == DAYS


def test_receiver_killed_between_runs_keeps_later_drops(agent, fake_slurm, receiver, tmp_path, monkeypatch):
    config = push_config(tmp_path, receiver.url)
    assert run(agent, config) == 0
    receiver.stop()
    later = dt.datetime(2024, 5, 4, 1, 0, tzinfo=dt.UTC)
    assert agent.main(["--config", str(config)], now=lambda: later, sleep=lambda s: None) == agent.EXIT_PUSH
    waiting = {json.loads(p.read_text())["day"] for p in spooled(tmp_path)}
    assert waiting == {"2024-05-02", "2024-05-03", "2024-05-04"}
    receiver.start()
    assert agent.main(["--config", str(config)], now=lambda: later, sleep=lambda s: None) == 0
    days = [m["day"] for m in landed_manifests(receiver)]
    assert sorted(set(days)) == ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"]
    # 2024-05-03 was partial at the first run and complete later: two versions, each stored once.
    assert len(days) == len({(m["day"], m["sha256"]) for m in landed_manifests(receiver)})


# --------------------------------------------------------------------------------------- TLS


def test_https_with_self_signed_certificate_needs_ca_bundle(
    agent, fake_slurm, receiver_factory, self_signed, tmp_path, capsys
):
    cert, key = self_signed
    rec = receiver_factory("https", ("--ssl-certfile", str(cert), "--ssl-keyfile", str(key))).start()
    config = push_config(tmp_path, rec.url)
    assert run(agent, config) == agent.EXIT_PUSH  # the system store does not trust it
    err = capsys.readouterr().err
    assert "CERTIFICATE_VERIFY_FAILED" in err and "ca_bundle" in err
    assert rec.landed() == [] and len(spooled(tmp_path)) == 3
    push_config(tmp_path, rec.url, ca_bundle=str(cert))
    assert run(agent, config) == 0
    assert sorted(m["day"] for m in landed_manifests(rec)) == DAYS and spooled(tmp_path) == []


def test_allow_insecure_http_lets_a_non_local_http_url_through(agent, fake_slurm, receiver_factory, tmp_path, capsys):
    rec = receiver_factory()
    url = rec.url.replace("127.0.0.1", "127.0.0.2")  # loopback, but not "localhost" to the agent
    assert run(agent, push_config(tmp_path, url)) == agent.EXIT_USAGE
    assert "plain http" in capsys.readouterr().err
    assert run(agent, push_config(tmp_path, url, allow_insecure_http=True)) == agent.EXIT_PUSH
    assert "cannot connect" in capsys.readouterr().err  # it tried (nothing listens there)


# ------------------------------------------------------------- retries (minimal stand-in server)


class StandIn(http.server.BaseHTTPRequestHandler):
    """Health 200; ingest answers the scripted statuses in order, then 200."""

    script: ClassVar[list] = []
    posts: ClassVar[list] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._answer(200, {"status": "ok"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append((self.headers["X-API-Key"], self.headers["Content-Type"], body))
        status, headers = type(self).script.pop(0) if type(self).script else (200, {})
        self._answer(
            status,
            {"status": "ok", "duplicate": False} if status == 200 else {"detail": f"scripted {status}"},
            headers,
        )

    def _answer(self, status, payload, headers=None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stand_in():
    StandIn.script, StandIn.posts = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", StandIn
    server.shutdown()
    server.server_close()


def test_429_and_5xx_are_retried_with_growing_jittered_backoff(agent, fake_slurm, stand_in, tmp_path):
    url, handler = stand_in
    handler.script = [(503, {}), (502, {}), (429, {"Retry-After": "7"})]
    config = push_config(tmp_path, url, retry_attempts=5, retry_backoff_seconds=1, retry_max_backoff_seconds=60)
    delays = []
    code = agent.main(
        ["--config", str(config), "--start-date", "2024-05-01", "--end-date", "2024-05-01"],
        now=lambda: NOW,
        sleep=delays.append,
    )
    assert code == 0
    assert len(handler.posts) == 4  # three refusals, then delivered
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2  # exponential with jitter
    assert delays[2] == 7  # Retry-After honoured
    key, content_type, body = handler.posts[-1]
    assert (key, content_type) == (KEY, "application/x-slurm-usage-drop")
    manifest = json.loads(body.split(b"\n", 1)[0])
    assert len(body.split(b"\n", 1)[1]) == manifest["gzip_size"]
    assert spooled(tmp_path) == []


@pytest.mark.parametrize("status", [401, 403, 413, 422])
def test_client_errors_are_never_retried(agent, fake_slurm, stand_in, tmp_path, capsys, status):
    url, handler = stand_in
    handler.script = [(status, {})] * 10
    config = push_config(tmp_path, url, retry_attempts=5)
    code = agent.main(
        ["--config", str(config), "--start-date", "2024-05-01", "--end-date", "2024-05-01"],
        now=lambda: NOW,
        sleep=lambda s: None,
    )
    assert code == agent.EXIT_PUSH
    assert len(handler.posts) == 1
    err = capsys.readouterr().err
    assert f"HTTP {status}" in err and f"scripted {status}" in err
    if status in (413, 422):  # refused for good: kept aside in spool/rejected, not resent forever
        assert spooled(tmp_path) == [] and len(list((tmp_path / "spool" / "rejected").glob("*.manifest.json"))) == 1
    else:  # fix the key or its binding, and the next run delivers
        assert len(spooled(tmp_path)) == 1


def test_persistent_5xx_gives_up_after_retry_attempts_and_spools(agent, fake_slurm, stand_in, tmp_path, capsys):
    url, handler = stand_in
    handler.script = [(503, {})] * 10
    config = push_config(tmp_path, url, retry_attempts=3)
    code = agent.main(
        ["--config", str(config), "--start-date", "2024-05-01", "--end-date", "2024-05-02"],
        now=lambda: NOW,
        sleep=lambda s: None,
    )
    assert code == agent.EXIT_PUSH
    assert len(handler.posts) == 3  # the first drop's attempts; the second waits in the spool untried
    assert len(spooled(tmp_path)) == 2
    assert "after 3 attempts" in capsys.readouterr().err


PY38 = Path("/root/.pyenv/versions/3.8.18/bin/python3.8")


@pytest.mark.skipif(not PY38.exists(), reason=f"{PY38} missing (pyenv 3.8.18 not installed on this machine)")
def test_push_under_python38_as_a_login_node_would_run_it(fake_slurm, receiver, tmp_path):
    config = push_config(tmp_path, receiver.url)
    proc = subprocess.run(
        [
            str(PY38),
            "-I",
            "-S",
            str(AGENT_FILE),
            "--config",
            str(config),
            "--start-date",
            "2024-05-01",
            "--end-date",
            "2024-05-02",
        ],
        capture_output=True,
        text=True,
        env=fake_slurm.env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(m["day"] for m in landed_manifests(receiver)) == ["2024-05-01", "2024-05-02"]
    assert KEY not in proc.stderr
