"""Protects the ``slurm-usage-receiver`` console script: --hash-key, configuration errors, .env support."""

import subprocess

import httpx

from slurm_assets.receiver import auth
from slurm_assets_tests.receiver.conftest import RECEIVER_BIN, run_receiver


def test_hash_key_prints_an_entry_that_matches_the_key():
    result = subprocess.run(
        [str(RECEIVER_BIN), "--hash-key"],
        input="my-secret\n",
        capture_output=True,
        text=True,
        check=True,
    )
    entry = result.stdout.strip()
    assert entry.startswith("salted-sha256:") and "my-secret" not in entry
    assert auth.check_key(auth.parse_api_keys(entry), "my-secret") is not None


def test_bad_api_keys_stop_the_server_with_exit_2_naming_the_entry(tmp_path):
    result = subprocess.run(
        [str(RECEIVER_BIN), "--port", "1", "--data-dir", str(tmp_path)],
        env={"API_KEYS": "fine,topsecret:../etc", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "API_KEYS entry #2: invalid cluster name '../etc'" in result.stderr
    assert "topsecret" not in result.stderr


def test_certfile_without_keyfile_is_a_usage_error(tmp_path):
    result = subprocess.run(
        [str(RECEIVER_BIN), "--ssl-certfile", str(tmp_path / "c.pem")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "--ssl-keyfile" in result.stderr


def test_keys_and_limits_come_from_a_dotenv_file(tmp_path):
    (tmp_path / ".env").write_text("API_KEYS=from-dotenv:alpha\nSLURM_USAGE_MAX_JSON_BYTES=200\n")
    with run_receiver(tmp_path, env={"API_KEYS": None, "SLURM_USAGE_MAX_JSON_BYTES": None}) as server:
        url = f"{server.url}/api/data/ingest"
        ok = httpx.post(
            url,
            json={"hostname": "alpha", "jobs": []},
            headers={"X-API-Key": "from-dotenv"},
        )
        other = httpx.post(
            url,
            json={"hostname": "beta", "jobs": []},
            headers={"X-API-Key": "from-dotenv"},
        )
        big = httpx.post(
            url,
            json={"hostname": "alpha", "jobs": [{"x": "y" * 300}]},
            headers={"X-API-Key": "from-dotenv"},
        )
        assert (ok.status_code, other.status_code, big.status_code) == (200, 403, 413)
