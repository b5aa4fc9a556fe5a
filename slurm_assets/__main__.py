"""Headless pipeline: ``python -m slurm_assets process [--data-dir D] [--start D0 --end D1] [--force] [--workers N]``
(and ``python -m slurm_assets import``: existing history into drops, ``slurm_assets/importer/cli.py``;
``python -m slurm_assets daemon``: ``dagster-daemon run`` with a 2 s backfill tick, ``slurm_assets/daemon.py``).

Materializes, through Dagster (the same assets and checks as in the UI), every landing
day whose drops have not been processed yet, as one run per batch of days (partition-range
tags; ``--workers`` runs side by side, each in its own process), then refreshes
``running_jobs`` and the DuckDB views. Runs are recorded in ``$DAGSTER_HOME`` when it is set
(visible in ``dagster dev``), else in a temporary instance. A range run records one planned
event per asset, not one per day (``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS``, see
docs/PIPELINE.md); materializations stay one per asset and day.

Exit codes: 0 success (also: nothing to do), 1 a run failed, 2 bad arguments or state.
"""

import argparse
import ctypes
import datetime as dt
import math
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import dagster as dg
from dagster._core.errors import DagsterHomeNotSetError

from slurm_assets import settings
from slurm_assets.defs.partitions import daily_backfill_policy, daily_partitions
from slurm_assets.importer import cli as importer_cli
from slurm_assets.pipeline.cpu_share import threads_for
from slurm_assets.storage import fs, landing, paths, state, warehouse

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2
# One planned event per asset for a range run instead of one per asset and day (each is a SQLite
# write: bench/README.md "Figures behind the code"). Trade-off (docs/PIPELINE.md): the UI does not
# mark the days of a failed or running range run as failed / in progress; the run shows as failed.
SUBSET_PLANNED_EVENTS_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
# Fewer days than this per run are not split further to keep the workers busy.
MIN_SPLIT_DAYS = 7
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_DEFS: dict[str, dg.Definitions] = {}  # loaded definitions by first day, shared with forked workers
_INSTANCES: dict[int, dg.DagsterInstance] = {}  # one instance per process (a forked worker opens its own)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m slurm_assets", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    proc = sub.add_parser("process", help="materialize every day with unprocessed drops, then DuckDB")
    proc.add_argument(
        "--data-dir",
        default=None,
        help="DATA_DIR, a folder or s3://bucket/prefix (default: $SLURM_USAGE_DATA_DIR or ./data)",
    )
    proc.add_argument("--start", help="first UTC day to consider (YYYY-MM-DD)")
    proc.add_argument("--end", help="last UTC day to consider (YYYY-MM-DD, inclusive)")
    proc.add_argument("--force", action="store_true", help="reprocess every day with drops in the range")
    proc.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="day-range runs side by side, each in its own process (default: %(default)s)",
    )
    sub.add_parser("daemon", help="dagster-daemon run (same options) with a 2 s backfill tick (slurm_assets/daemon.py)")
    imp = sub.add_parser("import", help="turn sacct logs or the seed system's Parquet into drops (docs/MIGRATING.md)")
    importer_cli.add_arguments(imp)
    return parser.parse_args(argv)


def default_workers() -> int:
    """Two runs side by side (as ``max_concurrent_runs`` in deploy/dagster.local.yaml), one on a single CPU."""
    return max(1, min(2, os.cpu_count() or 1))


def run_span(todo: list[str], max_span: int, workers: int) -> int:
    """Days per run: at most ``max_span``, and a number of runs that is a multiple of ``workers`` (even load).

    365 days, 100, 2 workers -> 92 (4 runs); 30 days -> 15 (2 runs); under 2 x MIN_SPLIT_DAYS: one run.
    """
    if not todo:
        return max_span
    total = (dt.date.fromisoformat(todo[-1]) - dt.date.fromisoformat(todo[0])).days + 1
    runs = workers * math.ceil(math.ceil(total / max_span) / workers)
    return min(max_span, max(MIN_SPLIT_DAYS, math.ceil(total / runs)))


def open_instance() -> dg.DagsterInstance:
    try:
        return dg.DagsterInstance.get()
    except DagsterHomeNotSetError:  # no DAGSTER_HOME: a temporary instance
        return dg.DagsterInstance.ephemeral()


def process_instance() -> dg.DagsterInstance:
    """This process's instance, opened once (a forked worker never uses its parent's connections)."""
    if os.getpid() not in _INSTANCES:
        _INSTANCES[os.getpid()] = open_instance()
    return _INSTANCES[os.getpid()]


def failed_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    """One line per failed asset check of a run, with its metadata."""
    lines = []
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            meta = {k: v.value for k, v in evaluation.metadata.items()}
            lines.append(f"  check {evaluation.check_name} on {evaluation.asset_key.to_user_string()} FAILED: {meta}")
    return lines


def load_defs() -> dg.Definitions:
    """The definitions, loaded once per SLURM_USAGE_FIRST_DAY (their partitions start there)."""
    first = settings.first_day()
    if first not in _DEFS:
        from slurm_assets.definitions import defs  # loading Dagster definitions is the slow part

        _DEFS[first] = defs()
    return _DEFS[first]


def run_config(data_dir: Path, threads: int = 0) -> dict:
    """The run's storage (and DuckDB threads: 0 = decided by the run, defs/threads.py)."""
    return {
        "resources": {"storage": {"config": {"data_dir": str(data_dir), "duckdb_threads": threads}}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},  # progress lines below, not event logs
    }


def run_days(data_dir: Path, first: str, last: str, threads: int = 0) -> tuple[bool, str, float, list[str]]:
    """One ``daily_tables_job`` run over ``first..last`` (in a worker process): success, run id, seconds, failed checks."""
    began = time.monotonic()
    result = (
        load_defs()
        .resolve_job_def("daily_tables_job")
        .execute_in_process(
            run_config=run_config(data_dir, threads),
            instance=process_instance(),
            raise_on_error=False,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )
    )
    return result.success, result.run_id, time.monotonic() - began, failed_checks(result)


def sweep_leftovers(data_dir: Path) -> None:
    """Remove what killed writers (a ``process``, a receiver, an agent) left more than an hour ago; say what."""
    try:
        removed = landing.sweep_stale(data_dir) + warehouse.sweep_stale(data_dir)
    except OSError as err:
        print(f"warning: cannot clean leftovers of killed writers in {data_dir}: {err}", file=sys.stderr)
        return
    if removed:
        shown = ", ".join(str(p.relative_to(fs.root(data_dir))) for p in removed[:5])
        print(
            f"removed {len(removed)} file(s) left by killed writers (temp files, data without manifest): "
            f"{shown}{' ...' if len(removed) > 5 else ''}",
            flush=True,
        )


def process(data_dir: Path, start: str | None, end: str | None, force: bool, workers: int = 1) -> int:
    """Process the days with new drops (see the module docstring); the environment is left as it was."""
    preset = os.environ.get(SUBSET_PLANNED_EVENTS_ENV)
    os.environ.setdefault(SUBSET_PLANNED_EVENTS_ENV, "true")  # set it to "false" for one planned event per day
    _INSTANCES.clear()  # $DAGSTER_HOME is read again by each call
    try:
        return process_days(data_dir, start, end, force, workers)
    finally:
        if preset is None:
            os.environ.pop(SUBSET_PLANNED_EVENTS_ENV, None)
        _INSTANCES.clear()


def process_days(data_dir: Path, start: str | None, end: str | None, force: bool, workers: int) -> int:
    sweep_leftovers(data_dir)
    listing = [
        (d.cluster, d.day, d.drop_id)
        for d in landing.list_drops(data_dir)
        if (start is None or d.day >= start) and (end is None or d.day <= end)
    ]
    known = set(daily_partitions().get_partition_keys())
    early = sorted({day for _, day, _ in listing if day < settings.first_day()})
    outside = sorted({day for _, day, _ in listing if day not in known and day not in early})
    if outside:  # after tomorrow (UTC): an agent's clock ahead
        print(
            f"warning: landing days after the last daily partition are skipped: {', '.join(outside[:10])}",
            file=sys.stderr,
        )
    current = landing.day_digests([item for item in listing if item[1] in known])
    todo = sorted(current) if force else landing.days_with_new_drops(current, state.processed_days(data_dir, listing))
    todo = sorted(
        set(todo) | (set(state.changed_quarantined(data_dir)) & set(current))
    )  # corrected copies of quarantined drops
    batches = landing.batch_days(todo, run_span(todo, daily_backfill_policy.max_partitions_per_run or 100, workers))
    print(
        f"{data_dir}: {len(listing)} drops on {len(current)} days; {len(todo)} days to process "
        f"in {len(batches)} run(s)",
        flush=True,
    )
    defs = load_defs()
    failed = run_batches(data_dir, batches, workers)
    if failed:
        return EXIT_RUN_FAILED
    if batches or not paths.duckdb_path(data_dir).exists():
        result = defs.resolve_job_def("warehouse_job").execute_in_process(
            run_config=run_config(data_dir), instance=process_instance(), raise_on_error=False
        )
        if not result.success:
            print(f"  running_jobs + DuckDB: run {result.run_id} FAILED", file=sys.stderr)
            return EXIT_RUN_FAILED
        print(f"  running_jobs + DuckDB views: done ({paths.duckdb_path(data_dir)})")
    if early:  # the other days are processed; these fail the command, naming the setting
        try:
            settings.check_not_before_first_day(early, f"{data_dir}/landing")
        except settings.FirstDayError as err:
            print(f"error: {err} (their drops are left in landing/, unprocessed)", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_OK


def run_batches(data_dir: Path, batches: list[tuple[str, str]], workers: int) -> int:
    """Run the day ranges, ``workers`` at a time (their steps mark the days processed). Returns the failed runs.

    After a failure no new range starts (those already running finish and are kept).
    """
    if workers <= 1 or len(batches) <= 1:
        for first, last in batches:
            if not finish_batch(first, last, run_days(data_dir, first, last)):
                return 1
        return 0
    # fork: the workers inherit the loaded definitions (no second import of Dagster); the runs' SQLite
    # writes to $DAGSTER_HOME are safe across processes (Dagster's own runs do the same under the daemon).
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    process_instance()  # creates the instance's databases once, before two workers would race to create them
    failed, pending = 0, list(batches)
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=init_worker, initargs=(os.getpid(),)
    ) as pool:
        running = {}
        while pending or running:
            while pending and len(running) < workers and not failed:
                first, last = pending.pop(0)
                running[pool.submit(run_days, data_dir, first, last, threads_for(workers))] = (first, last)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                first, last = running.pop(future)
                try:
                    outcome = future.result()
                except Exception as err:  # noqa: BLE001 - a worker died (e.g. out of memory): that range failed
                    outcome = (False, f"not recorded: the worker process failed: {err!r}", 0.0, [])
                failed += not finish_batch(first, last, outcome)
    return failed


def init_worker(parent: int) -> None:
    """A run worker (its runs get their share of the CPUs: ``threads_for``) dies with ``process`` (even a
    ``kill -9`` of it), so no run goes on writing files unsupervised while ``process`` is rerun."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: a worker ends after its current run
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def finish_batch(first: str, last: str, outcome: tuple[bool, str, float, list[str]]) -> bool:
    """Print a range run's outcome (its steps marked its days processed: ``state.promote_built``)."""
    success, run_id, seconds, checks = outcome
    if not success:
        print(f"  {first}..{last}: run {run_id} FAILED", file=sys.stderr, flush=True)
        return False
    for line in checks:
        print(line)
    print(f"  {first}..{last}: done in {seconds:.1f} s ({len(checks)} failed checks; run {run_id})", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["daemon"]:  # dagster-daemon run's own options follow
        from slurm_assets import daemon

        return daemon.main(argv[1:])
    args = parse_args(argv)
    if args.command == "import":
        return importer_cli.run(args)
    try:
        for day in (args.start, args.end):
            if day is not None:
                paths.check_day(day)
                settings.check_not_before_first_day([day], f"--start/--end {day}")
        data_dir = fs.resolve(args.data_dir) if args.data_dir else settings.data_dir()
        if args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        fs.check_root(data_dir)
        return process(data_dir, args.start, args.end, args.force, args.workers)
    except (paths.InvalidNameError, ValueError, fs.StorageError) as err:  # FirstDayError included
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
