"""A real dask cluster on loopback for tests: ``dask scheduler`` and N ``dask worker`` processes (no nanny,
one thread each: Dagster steps are not thread-safe), started and stopped by the caller's fixture."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from slurm_assets_tests.ports import free_port

BIN = Path(sys.executable).parent
START_TIMEOUT_S = 120


@dataclass
class DaskCluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]

    @property
    def worker_pids(self) -> set[int]:
        return {w.pid for w in self.workers}

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _spawn(argv: list[str], env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:  # the child keeps its own copy of the fd
        return subprocess.Popen(argv, env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def start_cluster(workers: int, env: dict, log_dir: Path, cwd: Path) -> DaskCluster:
    """Scheduler + ``workers`` workers, returned once every worker has registered with the scheduler.

    ``env`` is the workers' environment: what a worker host needs (the code importable, DAGSTER_PG_*,
    SLURM_USAGE_DATA_DIR); workers run in ``cwd`` with nothing else shared with the caller.
    """
    from dask.distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    scheduler = _spawn(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
        env,
        log_dir / "dask-scheduler.log",
        cwd,
    )
    cluster = DaskCluster(address, scheduler, [])
    try:
        for i in range(workers):
            cluster.workers.append(
                _spawn(
                    [
                        str(BIN / "dask"),
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--no-dashboard",
                        "--name",
                        f"worker-{i}",
                        "--local-directory",
                        str(log_dir / f"dask-{i}"),
                    ],
                    env,
                    log_dir / f"dask-worker-{i}.log",
                    cwd,
                )
            )
        with Client(address, timeout=START_TIMEOUT_S) as client:
            client.wait_for_workers(workers, timeout=START_TIMEOUT_S)
            registered = set(client.run(os.getpid).values())
        if registered != cluster.worker_pids:
            raise RuntimeError(f"dask workers {registered} are not the processes started {cluster.worker_pids}")
    except BaseException:
        cluster.stop()
        raise
    return cluster
