"""``make demo``: demo data through the real path, then Dagster UI, receiver and dashboard on 127.0.0.1.

    python -m slurm_assets.demo.stack --data-dir DIR [--clusters alpha,beta] [--days 60]
        [--jobs-per-day 300] [--seed 0] [--dagster-port 3000] [--receiver-port 8080]
        [--streamlit-port 8501] [--no-serve]

1. Data: for each cluster whose drops in ``DIR/landing`` stop before today, run the real agent
   (``agent/slurm-usage-history-exporter.py --no-config --output-dir DIR/landing``)
   against the stand-in ``sacct``/``scontrol`` (``fake_sacct.install_fake_slurm``),
   for the last ``--days`` UTC days up to today (a new cluster), or from the last
   landed day to today (a known cluster, on a later day); clusters side by side.
   ``SLURM_DEMO_NOW`` is fixed for the whole run so every window sees the same
   RUNNING/PENDING jobs.
2. ``python -m slurm_assets process --data-dir DIR``: real Dagster runs for the
   days not processed yet (a second ``make demo`` finds nothing to do).
3. Services, each in its own process group with its log in ``DIR/logs/``:
   ``dagster dev`` (module ``slurm_assets.definitions``, ``DAGSTER_HOME`` from the
   environment, else ``DIR/dagster_home``), ``slurm-usage-receiver`` (``API_KEYS``
   from the environment, else ``demo-key``) and ``streamlit run streamlit_app/app.py``.
   Each is waited for until it answers; then the URLs are printed.

Ctrl-C or SIGTERM stops all three (SIGTERM to each process group, SIGKILL after a
grace period to any process of theirs still alive). Whatever is missing from the
tree is skipped with a message. Exit codes: 0 stopped cleanly, 1 a step failed,
2 bad arguments.
"""

import argparse
import datetime as dt
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from slurm_assets import settings
from slurm_assets.demo.fake_sacct import install_fake_slurm
from slurm_assets.demo.services import (
    STREAMLIT_APP,
    Service,
    log,
    port_in_use,
    start,
    stop_all,
    streamlit_argv,
    tail,
    wait_locations_loaded,
    wait_ready,
)
from slurm_assets.storage import landing, paths

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT = REPO_ROOT / "agent" / "slurm-usage-history-exporter.py"
LOCAL_DAGSTER_YAML = REPO_ROOT / "deploy" / "dagster.local.yaml"
DEMO_API_KEY = "demo-key"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m slurm_assets.demo.stack", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, required=True, help="DATA_DIR (landing/, warehouse/, logs/)")
    p.add_argument("--clusters", default="alpha,beta", help="comma list of cluster names (default alpha,beta)")
    p.add_argument("--days", type=int, default=60, help="UTC days of history up to today (default 60)")
    p.add_argument("--jobs-per-day", type=int, default=300, help="mean jobs per cluster and day (default 300)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument("--host", default="127.0.0.1", help="bind address of all services (default 127.0.0.1)")
    p.add_argument("--dagster-port", type=int, default=3000)
    p.add_argument("--receiver-port", type=int, default=8080)
    p.add_argument("--streamlit-port", type=int, default=8501)
    p.add_argument("--ready-timeout", type=float, default=180.0, help="seconds to wait for each service")
    p.add_argument("--no-serve", action="store_true", help="prepare the data, start no service")
    args = p.parse_args(argv)
    args.cluster_list = [c.strip() for c in args.clusters.split(",") if c.strip()]
    if not args.cluster_list or args.days < 1 or args.jobs_per_day < 1:
        p.error("--clusters needs a name, --days and --jobs-per-day must be >= 1")
    for c in args.cluster_list:
        try:
            paths.check_cluster_name(c)
        except paths.InvalidNameError as err:
            p.error(str(err))
    return args


# --------------------------------------------------------------------------- data


def plan_collection(
    latest: dict[str, dt.date], clusters: list[str], today: dt.date, days: int
) -> dict[str, tuple[dt.date, dt.date]]:
    """Days to collect per cluster: ``days`` up to today for a new cluster; from its latest landed day
    (re-collected: it was partial) to today for a known one; nothing for a cluster already up to today."""
    plan = {}
    for cluster in clusters:
        last = latest.get(cluster)
        if last is None:
            plan[cluster] = (today - dt.timedelta(days=days - 1), today)
        elif last < today:
            plan[cluster] = (last, today)
    return plan


def demo_first_day(data_dir: Path, days: int) -> str:
    """The demo data's first day: ``days`` back from today (UTC), or the earliest day already landed."""
    first = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days - 1)
    landed = [dt.date.fromisoformat(d.day) for d in landing.list_drops(data_dir)]
    return min([first, *landed]).isoformat()


def generate_drops(args: argparse.Namespace, data_dir: Path, env: dict[str, str], skipped: list[str]) -> bool:
    """Run the real agent (drop mode) for the clusters and days the landing zone lacks; False if one failed."""
    latest: dict[str, dt.date] = {}
    for drop in landing.list_drops(data_dir):
        latest[drop.cluster] = max(latest.get(drop.cluster, dt.date.min), dt.date.fromisoformat(drop.day))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    plan = plan_collection(latest, args.cluster_list, now.date(), args.days)
    if not plan:
        log(f"landing zone already has drops up to today for {', '.join(args.cluster_list)}: reusing them")
        return True
    if not AGENT.exists():
        skipped.append(f"demo data: {AGENT.relative_to(REPO_ROOT)} does not exist yet")
        log(f"SKIP data generation: {AGENT} not found")
        return True
    fakes = install_fake_slurm(data_dir / "demo-bin")
    running = []
    for cluster, (first, last) in plan.items():
        cenv = dict(env)
        cenv.update(
            PATH=f"{fakes['sacct'].parent}{os.pathsep}{env.get('PATH', '')}",
            TZ="UTC",
            SLURM_DEMO_CLUSTER=cluster,
            SLURM_DEMO_SEED=str(args.seed),
            SLURM_DEMO_JOBS_PER_DAY=str(args.jobs_per_day),
            # One `now` for every window of this run: the same jobs are RUNNING in all of them.
            SLURM_DEMO_NOW=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        argv = [
            sys.executable,
            str(AGENT),
            "--no-config",
            "--cluster",
            cluster,
            "--sacct",
            str(fakes["sacct"]),
            "--output-dir",
            str(paths.landing_root(data_dir)),
            "--start-date",
            first.isoformat(),
            "--end-date",
            last.isoformat(),
        ]
        log(
            f"agent: {cluster} {first} .. {last} ({args.jobs_per_day} jobs/day, seed {args.seed}) -> "
            f"{paths.landing_root(data_dir)}"
        )
        running.append(
            (
                cluster,
                time.monotonic(),
                subprocess.Popen(argv, env=cenv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
            )
        )
    ok = True
    for cluster, began, proc in running:  # the clusters' agents run side by side
        output, _ = proc.communicate()
        if proc.returncode != 0:
            log(f"agent for {cluster} failed (exit {proc.returncode}):\n{output[-4000:]}")
            ok = False
        else:
            log(f"agent: {cluster} done in {time.monotonic() - began:.1f} s")
    return ok


def run_pipeline(data_dir: Path, env: dict[str, str], skipped: list[str]) -> bool:
    """``python -m slurm_assets process``; False if it failed."""
    if importlib.util.find_spec("slurm_assets.__main__") is None:
        skipped.append("pipeline: `python -m slurm_assets process` does not exist yet (no warehouse tables)")
        log("SKIP pipeline: slurm_assets/__main__.py not found")
        return True
    log(f"pipeline: python -m slurm_assets process --data-dir {data_dir}")
    began = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "slurm_assets", "process", "--data-dir", str(data_dir)], env=env, check=False
    )
    if proc.returncode != 0:
        log(f"pipeline failed (exit {proc.returncode}); see the output above")
        return False
    log(f"pipeline: done in {time.monotonic() - began:.1f} s")
    return True


# --------------------------------------------------------------------------- services and main


def _tool(name: str) -> list[str] | None:
    """A console script next to this interpreter, else on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return [str(local)]
    found = shutil.which(name)
    return [found] if found else None


def plan_services(args: argparse.Namespace, data_dir: Path, env: dict[str, str], skipped: list[str]) -> list[Service]:
    host, logs = args.host, data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    services = []
    dagster = _tool("dagster")
    if importlib.util.find_spec("slurm_assets.definitions") is None or dagster is None:
        skipped.append("Dagster UI: slurm_assets.definitions or the dagster CLI is missing")
    else:
        services.append(
            Service(
                "dagster",
                dagster + ["dev", "-m", "slurm_assets.definitions", "-h", host, "-p", str(args.dagster_port)],
                f"http://{host}:{args.dagster_port}/server_info",
                f"http://{host}:{args.dagster_port}",
                env,
                logs / "dagster.log",
            )
        )
    receiver = _tool("slurm-usage-receiver")
    if importlib.util.find_spec("slurm_assets.receiver.cli") is None:
        skipped.append("receiver: slurm_assets/receiver/cli.py does not exist yet")
    else:
        argv = receiver or [sys.executable, "-m", "slurm_assets.receiver.cli"]
        services.append(
            Service(
                "receiver",
                argv + ["--host", host, "--port", str(args.receiver_port), "--data-dir", str(data_dir)],
                f"http://{host}:{args.receiver_port}/api/dashboard/health",
                f"http://{host}:{args.receiver_port}",
                env,
                logs / "receiver.log",
            )
        )
    if not STREAMLIT_APP.exists():
        skipped.append("dashboard: streamlit_app/app.py does not exist yet")
    else:
        services.append(
            Service(
                "streamlit",
                streamlit_argv(args.streamlit_port, host),
                f"http://{host}:{args.streamlit_port}/_stcore/health",
                f"http://{host}:{args.streamlit_port}",
                env,
                logs / "streamlit.log",
            )
        )
    return services


def demo_env(args: argparse.Namespace, data_dir: Path) -> tuple[dict[str, str], str]:
    """The children's environment (this one plus the demo's settings) and where API_KEYS came from."""
    env = dict(os.environ)  # passed through to the children
    env["SLURM_USAGE_DATA_DIR"] = str(data_dir)
    # The dashboard's Data status page links to the Dagster UI this stack starts.
    env["DAGSTER_UI_URL"] = f"http://127.0.0.1:{args.dagster_port}"
    # The daemon's and the UI's range runs log one planned event per asset, as `process` does (docs/PIPELINE.md).
    env.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    if not env.get("DAGSTER_HOME"):
        home = data_dir / "dagster_home"
        home.mkdir(exist_ok=True)
        if LOCAL_DAGSTER_YAML.exists() and not (home / "dagster.yaml").exists():
            shutil.copy(LOCAL_DAGSTER_YAML, home / "dagster.yaml")
        env["DAGSTER_HOME"] = str(home)
    if not env.get(settings.FIRST_DAY_ENV):  # the partitions start at the demo data's first day
        env[settings.FIRST_DAY_ENV] = demo_first_day(data_dir, args.days)
    if env.get("API_KEYS"):
        return env, "API_KEYS from your environment"
    env["API_KEYS"] = DEMO_API_KEY
    return env, f"API_KEYS={DEMO_API_KEY}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env, api_key_note = demo_env(args, data_dir)
    skipped: list[str] = []

    stop_flag: list[bool] = []

    def on_signal(signum, _frame):
        stop_flag.append(True)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    services = [] if args.no_serve else plan_services(args, data_dir, env, skipped)
    busy = [
        f"{s.name} port {s.url.rsplit(':', 1)[1]}"
        for s in services
        if port_in_use(args.host, int(s.url.rsplit(":", 1)[1]))
    ]
    if busy:  # before minutes of data preparation, not after
        log(
            f"{', '.join(busy)} already in use (another demo running?); stop it or pass "
            "--dagster-port/--receiver-port/--streamlit-port"
        )
        return 1
    if not generate_drops(args, data_dir, env, skipped):
        return 1
    if not run_pipeline(data_dir, env, skipped):
        # Serve anyway: the UI shows the failed run and the receiver still works,
        # but say so at the top of the summary.
        skipped.insert(0, "pipeline FAILED (see its output above): warehouse tables may be missing or stale")
    if stop_flag:
        log("interrupted before the services started")
        return 1
    if args.no_serve:
        log("--no-serve: data ready, no service started")
        _report_skipped(skipped)
        return 0

    code = 0
    try:
        for s in services:
            start(s)
        bad = wait_ready(services, args.ready_timeout, stop_flag)
        if bad is not None:
            why = "exited" if bad.proc.poll() is not None else f"did not answer within {args.ready_timeout:.0f} s"
            log(f"{bad.name} {why}; last log lines:\n{tail(bad.log_path)}")
            code = 1
        elif not stop_flag:
            dagster = [s for s in services if s.name == "dagster"]
            if dagster:
                skipped[:0] = wait_locations_loaded(dagster[0].url, args.ready_timeout, stop_flag)
            log("ready:")
            for s in services:
                extra = f"   ({api_key_note}; POST /api/data/ingest)" if s.name == "receiver" else ""
                print(f"    {s.name:<10} {s.url}{extra}", flush=True)
            _report_skipped(skipped)
            log(f"data: {data_dir}   logs: {data_dir / 'logs'}   Ctrl-C stops everything")
            while not stop_flag:
                dead = [s for s in services if s.proc.poll() is not None]
                if dead:
                    log(
                        f"{dead[0].name} exited unexpectedly (exit {dead[0].proc.returncode}); "
                        f"last log lines:\n{tail(dead[0].log_path)}"
                    )
                    code = 1
                    break
                time.sleep(0.5)
    finally:
        log("stopping " + ", ".join(s.name for s in services if s.proc is not None))
        clean = stop_all(services)
        log("all services stopped" if clean else "some processes could not be stopped")
    return code if clean else 1


def _report_skipped(skipped: list[str]) -> None:
    for item in skipped:
        log(f"note: {item}")


if __name__ == "__main__":
    sys.exit(main())
