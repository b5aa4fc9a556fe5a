"""Issue 16 on object storage: the receiver (real HTTP, a subprocess) lands pushed drops in ``s3://`` (moto),
``process --data-dir s3://...`` materializes them, and the ``jobs`` Parquet there holds exactly the finished
jobs: the same files, byte for byte, as the same drops processed on local disk. A re-push is stored once; a
drop whose manifest object is missing is not counted."""

import gzip
import os
import subprocess

import httpx
import pytest

from slurm_assets.__main__ import EXIT_OK, EXIT_USAGE, main
from slurm_assets.storage import fs, landing, paths, state, warehouse
from slurm_assets_tests.defs.conftest import COLLECTED, HISTORY
from slurm_assets_tests.defs.history import land, manifest_for, render_window
from slurm_assets_tests.drops import drop_body
from slurm_assets_tests.receiver.conftest import RECEIVER_BIN, native_headers, run_receiver
from slurm_assets_tests.warehouse_files import warehouse_files

INGEST = "/api/data/ingest"
DAYS = ("2024-05-01", "2024-05-02")


@pytest.fixture(autouse=True)
def no_dagster_home(monkeypatch, tmp_path):
    """Runs go to a temporary instance; the DuckDB file of the s3:// root to this test's folder."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("SLURM_USAGE_LOCAL_DIR", str(tmp_path / "local"))


def history_drops():
    for cluster, jobs in HISTORY.items():
        for day in DAYS:
            text = render_window(jobs, day, COLLECTED)
            gz = gzip.compress(text, mtime=0)
            yield manifest_for(cluster, day, text, gz, COLLECTED, source="push"), gz


def push_all(url: str) -> list[dict]:
    answers = []
    with httpx.Client(timeout=30) as client:
        for manifest, gz in history_drops():
            response = client.post(f"{url}{INGEST}", content=drop_body(manifest, gz), headers=native_headers())
            assert response.status_code == 200, response.text
            answers.append(response.json())
    return answers


def test_pushed_drops_land_in_s3_and_process_matches_local_disk(s3_bucket, tmp_path, capsys):
    with run_receiver(tmp_path, "--data-dir", s3_bucket.url, env=s3_bucket.env()) as receiver:
        first = push_all(receiver.url)
        assert all(not d["duplicate"] for a in first for d in a["drops"])
        again = push_all(receiver.url)  # an agent retrying everything: stored once
        assert all(d["duplicate"] for a in again for d in a["drops"])
        health = httpx.get(f"{receiver.url}/api/dashboard/health", headers=native_headers()).json()
        assert health["data_dir_writable"] is True and health["clusters"]["alpha"]["latest_day"] == "2024-05-02"
    landed = s3_bucket.keys("landing/")
    assert len(landed) == 8 and all(k.endswith((".psv.gz", ".manifest.json")) for k in landed)
    assert not (tmp_path / "data").exists()  # nothing on local disk but the receiver's log

    local = tmp_path / "local-root"
    for manifest, gz in history_drops():
        land(local, manifest["cluster"], manifest["day"], gzip.decompress(gz), COLLECTED, source="push")
    assert main(["process", "--data-dir", s3_bucket.url]) == EXIT_OK
    assert "4 drops on 2 days; 2 days to process" in capsys.readouterr().out
    assert main(["process", "--data-dir", str(local)]) == EXIT_OK
    remote_files, local_files = warehouse_files(s3_bucket.url), warehouse_files(local)
    assert remote_files.keys() == local_files.keys() and remote_files == local_files
    assert not [k for k in s3_bucket.keys() if not k.endswith((".parquet", ".json", ".psv.gz"))]

    con = warehouse.connect_readonly(s3_bucket.url)
    finished = con.execute("SELECT cluster, job_id_raw FROM jobs ORDER BY 1, 2").fetchall()
    assert finished == [("alpha", 1), ("alpha", 2), ("alpha", 3), ("beta", 70)]  # job 4 still runs
    assert con.execute("SELECT job_id_raw FROM running_jobs").fetchall() == [(4,)]
    assert paths.duckdb_path(s3_bucket.url).is_relative_to(tmp_path / "local")
    assert main(["process", "--data-dir", s3_bucket.url]) == EXIT_OK
    assert "0 days to process" in capsys.readouterr().out
    assert set(state.read_processed(s3_bucket.url)) == set(DAYS)


def test_a_drop_without_its_manifest_object_is_not_processed(s3_bucket, capsys):
    manifest, gz = next(history_drops())
    data_obj, _ = landing.drop_paths(
        s3_bucket.url, manifest["cluster"], manifest["day"], landing.drop_id_for(manifest["sha256"])
    )
    fs.put_bytes(data_obj, gz)  # the receiver died before its manifest PUT
    assert main(["process", "--data-dir", s3_bucket.url]) == EXIT_OK
    assert "0 drops on 0 days" in capsys.readouterr().out
    assert warehouse.connect_readonly(s3_bucket.url).execute("SELECT count(*) FROM jobs").fetchone() == (0,)


def test_process_names_a_missing_bucket(s3_bucket, capsys):
    assert main(["process", "--data-dir", "s3://no-such-bucket/data"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "bucket 'no-such-bucket' does not exist" in err and "Traceback" not in err


def test_receiver_refuses_to_start_on_a_missing_bucket(s3_bucket, tmp_path):
    proc = subprocess.run(
        [str(RECEIVER_BIN), "--port", "0", "--data-dir", "s3://no-such-bucket/data"],
        cwd=tmp_path,
        env={**os.environ, **s3_bucket.env(), "API_KEYS": "k"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "configuration error: s3://no-such-bucket/data: bucket 'no-such-bucket' does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
