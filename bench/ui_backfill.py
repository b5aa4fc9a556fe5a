"""Scenario 3b: the year's backfill as an operator launches it from the Dagster UI (issue 7).

``dagster-webserver`` and the daemon (``python -m slurm_assets daemon``: ``dagster-daemon run`` with a
2 s backfill tick) on the instance of ``deploy/dagster.local.yaml``
(SQLite, queued run coordinator), the backfill launched over GraphQL the way the UI's
"Materialize" of every daily partition does (``launchPartitionBackfill`` of the daily assets),
so the daemon splits it by the assets' backfill policy and the run queue runs it. The
landing sensor is stopped first (in production it would also request runs for these days);
the warehouse sensor stays on, as deployed. The daemon is started and healthy before the launch
(an operator's daemon is always running). Reported: the backfill's wall time (launch to
COMPLETED), its runs and their seconds, from the instance's run records.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench import workload as wl

LOCATION = "slurm_assets.definitions"
REPOSITORY = "__repository__"
START_TIMEOUT_S = 180
BACKFILL_TIMEOUT_S = 3600
BIN = Path(sys.executable).parent

SENSOR_QUERY = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  __typename ... on Sensor { id sensorState { status } } ... on PythonError { message } } }"""
STOP_SENSOR = """mutation($id: String) { stopSensor(id: $id) { __typename
  ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }"""
LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
DAEMONS = """query { instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status } ... on PythonError { message } } }"""


def daily_asset_keys() -> list[list[str]]:
    """The assets partitioned by day (what "materialize all partitions" of the daily assets selects)."""
    from slurm_assets.__main__ import load_defs
    from slurm_assets.defs.partitions import daily_partitions

    return sorted(
        spec.key.path for spec in load_defs().resolve_all_asset_specs() if spec.partitions_def == daily_partitions()
    )


def gql(url: str, query: str, variables: dict) -> dict:
    answer = httpx.post(url, json={"query": query, "variables": variables}, timeout=60)
    answer.raise_for_status()
    body = answer.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def start_process(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:  # the child keeps its own copy of the fd
        return subprocess.Popen(argv, cwd=wl.ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _wait_location(url: str, web: subprocess.Popen, log: Path) -> str:
    """The landing sensor's id, once the code location is loaded."""
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": "landing_sensor"}
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if web.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited: {log.read_text()[-3000:]}")
        try:
            found = gql(url, SENSOR_QUERY, {"selector": selector})["sensorOrError"]
            if found["__typename"] == "Sensor":
                return found["id"]
        except (httpx.HTTPError, RuntimeError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"code location not loaded within {START_TIMEOUT_S} s: {log.read_text()[-3000:]}")
        time.sleep(1)


def start_servers(env: dict, port: int, log: Path) -> tuple[subprocess.Popen, str]:
    """dagster-webserver on ``port``, once its code location is loaded: the process and the landing sensor's id."""
    web = start_process([str(BIN / "dagster-webserver"), "-m", LOCATION, "-h", "127.0.0.1", "-p", str(port)], env, log)
    try:
        return web, _wait_location(f"http://127.0.0.1:{port}/graphql", web, log)
    except BaseException:
        stop_process(web)
        raise


def stop_landing_sensor(url: str, sensor_id: str) -> None:
    stopped = gql(url, STOP_SENSOR, {"id": sensor_id})["stopSensor"]
    if stopped["__typename"] != "StopSensorMutationResult":
        raise RuntimeError(f"could not stop the landing sensor: {stopped}")


def wait_daemon(url: str, daemon: subprocess.Popen, log: Path) -> None:
    """Until the daemon's backfill and run-queue loops report healthy (an operator's daemon is always up)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        statuses = gql(url, DAEMONS, {})["instance"]["daemonHealth"]["allDaemonStatuses"]
        if all(s["healthy"] for s in statuses if s["daemonType"] in ("BACKFILL", "QUEUED_RUN_COORDINATOR")):
            return
        if daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited: {log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"dagster-daemon not healthy within {START_TIMEOUT_S} s: {log.read_text()[-3000:]}")
        time.sleep(1)


def launch_backfill(url: str, days: list[str], asset_keys: list[list[str]] | None = None) -> str:
    """Launch the backfill of partitions ``days`` of ``asset_keys`` (default: the daily assets) as the UI does;
    the backfill's id."""
    params = {
        "partitionNames": days,
        "assetSelection": [{"path": k} for k in asset_keys or daily_asset_keys()],
        "fromFailure": False,
        "title": "bench: the year from the UI",
    }
    launched = gql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"backfill not launched: {launched}")
    return launched["backfillId"]


def wait_backfill(url: str, backfill_id: str, daemon: subprocess.Popen, log: Path) -> str | None:
    """The backfill's final status (or the last one seen when BACKFILL_TIMEOUT_S passed)."""
    began, status = time.monotonic(), None
    while time.monotonic() - began < BACKFILL_TIMEOUT_S:
        status = gql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"].get("status")
        if status in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"):
            break
        if daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited: {log.read_text()[-3000:]}")
        time.sleep(1)
    return status


def run(
    data_dir: Path,
    days: list[str],
    home: Path,
    scratch: Path,
    port: int,
    extra_env: dict | None = None,
    after: Callable[[], None] | None = None,
    asset_keys: list[list[str]] | None = None,
) -> dict:
    """Backfill ``days`` of the daily assets through webserver + daemon; wall time, runs, seconds per run.

    ``extra_env``: for every Dagster process (e.g. the PostgreSQL instance's DAGSTER_PG_*, the executor);
    ``after()`` runs once the backfill has completed, while webserver and daemon still run (the tests wait there
    for the sensors' follow-up runs); ``asset_keys``: other assets than the daily ones (``days`` are then their
    partition keys, e.g. months of ``monthly_reports``). Raises BackfillFailed, with the daemon's log, unless every
    run succeeded.
    """
    import dagster as dg

    log = scratch / "ui_backfill.log"
    env = wl.bench_env(
        scratch,
        DAGSTER_HOME=str(home),
        SLURM_USAGE_DATA_DIR=str(data_dir),
        DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS="true",
    )  # as the demo stack and DEPLOYING.md
    env.update(extra_env or {})
    env.pop("SLURM_USAGE_CLUSTERS_FILE", None)
    url = f"http://127.0.0.1:{port}/graphql"
    web, sensor_id = start_servers(env, port, log)
    daemon = None
    try:
        stop_landing_sensor(url, sensor_id)
        # the product's daemon: dagster-daemon run with a short backfill tick (slurm_assets/daemon.py)
        daemon = start_process([sys.executable, "-m", "slurm_assets", "daemon", "-m", LOCATION], env, log)
        wait_daemon(url, daemon, log)
        daemon_cpu_before = cpu_seconds(daemon.pid)
        began, began_epoch = time.monotonic(), time.time()  # from the launch, the daemon already up
        backfill_id = launch_backfill(url, days, asset_keys)
        status = wait_backfill(url, backfill_id, daemon, log)
        wall = time.monotonic() - began
        daemon_cpu = cpu_seconds(daemon.pid) - daemon_cpu_before  # its ticks compete with the runs for the CPUs
        if after is not None and status in ("COMPLETED", "COMPLETED_SUCCESS"):
            after()
    finally:
        if daemon is not None:
            stop_process(daemon)
        stop_process(web)
    with _instance_env(extra_env or {}), dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    result = summary(records, status, wall, began_epoch, backfill_id)
    result["daemon_cpu_s"] = round(daemon_cpu, 1)
    check_runs(result, log)
    return result


def summary(records: list, status: str | None, wall: float, began_epoch: float, backfill_id: str) -> dict:
    """Wall time, the runs and their seconds; ``data_s``: from the launch to the end of the last run (the
    files are written then; the backfill shows COMPLETED at the daemon's next backfill tick)."""
    import dagster as dg

    seconds = sorted(round(r.end_time - r.start_time, 1) for r in records if r.start_time and r.end_time)
    ends = [r.end_time for r in records if r.end_time]
    statuses = {r.dagster_run.run_id: r.dagster_run.status.value for r in records}
    return {
        "status": status,
        "wall_s": round(wall, 1),
        "runs": len(records),
        "runs_succeeded": sum(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records),
        "run_seconds": seconds,
        "s_per_run": round(sum(seconds) / len(seconds), 1) if seconds else None,
        "data_s": round(max(ends) - began_epoch, 1) if ends else None,
        # from the run's creation (queued) to its start: the queue, the launch and the run process's imports
        "start_lag_s": sorted(round(r.start_time - r.create_timestamp.timestamp(), 1) for r in records if r.start_time),
        "backfill_id": backfill_id,
        "run_ids": list(statuses),
        "run_statuses": statuses,
    }


class BackfillFailed(RuntimeError):
    """The backfill did not complete, or one of its runs did not succeed."""


def check_runs(result: dict, log: Path) -> None:
    """COMPLETED is not success: every run of the backfill must have succeeded, and there must be runs."""
    failed = {run_id: s for run_id, s in result["run_statuses"].items() if s != "SUCCESS"}
    if result["status"] in ("COMPLETED", "COMPLETED_SUCCESS") and result["runs"] and not failed:
        return
    raise BackfillFailed(
        f"backfill {result['backfill_id']} ended {result['status']} with {result['runs']} runs, "
        f"not succeeded: {failed or 'none (no runs)'}; log tail:\n{log.read_text()[-3000:]}"
    )


@contextmanager
def _instance_env(extra_env: dict) -> Iterator[None]:
    """``extra_env`` in os.environ while this process opens the instance (its dagster.yaml reads env vars)."""
    saved = {k: os.environ.get(k) for k in extra_env}
    os.environ.update(extra_env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
