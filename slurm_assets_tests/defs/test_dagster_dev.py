"""Protects the operator path: a real ``dagster dev`` (webserver + daemon, SQLite DAGSTER_HOME made from
deploy/dagster.local.yaml) loads the code location and runs a partition-range run launched over GraphQL
to SUCCESS through the queued run coordinator, writing the warehouse files; and the daemon's sensors then
publish the DuckDB file without anyone asking (landing_sensor / warehouse_sensor)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from slurm_assets.storage import paths
from slurm_assets_tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180
RUN_TIMEOUT_S = 240
SENSOR_TIMEOUT_S = 240  # the daemon evaluates sensors every 30-60 s


@pytest.fixture
def dagster_dev(tmp_path, landed):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "SLURM_USAGE_DATA_DIR": str(landed)}
    env.pop("SLURM_USAGE_CLUSTERS_FILE", None)
    with open(tmp_path / "dagster_dev.log", "wb") as log:  # the child keeps its own copy of the fd
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dagster"),
                "dev",
                "-m",
                "slurm_assets.definitions",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, (tmp_path / "dagster_dev.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "dagster dev did not answer within the start timeout"
            time.sleep(1)
        yield port, landed, tmp_path / "dagster_dev.log"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # our own process group: webserver, daemon, code server
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_partition_range_run_via_graphql_succeeds(dagster_dev):
    port, data_dir, log = dagster_dev
    client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=30)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:  # the code location loads in the background after the webserver is up
        try:
            run_id = client.submit_job_execution(
                "daily_tables_job",
                repository_location_name="slurm_assets.definitions",
                tags={
                    "dagster/asset_partition_range_start": "2024-05-01",
                    "dagster/asset_partition_range_end": "2024-05-02",
                },
            )
            break
        except DagsterGraphQLClientError:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(2)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = None
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS", log.read_text()[-3000:]
    for cluster, day in (("alpha", "2024-05-01"), ("alpha", "2024-05-02"), ("beta", "2024-05-01")):
        assert paths.partition_file(data_dir, "jobs", cluster, day).exists()
        assert paths.partition_file(data_dir, "usage_daily", cluster, day).exists()
    deadline = time.monotonic() + SENSOR_TIMEOUT_S
    while not paths.duckdb_path(data_dir).exists():
        assert time.monotonic() < deadline, "no warehouse_job after the sensors ran: " + log.read_text()[-3000:]
        time.sleep(2)
