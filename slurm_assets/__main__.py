"""Headless pipeline: ``python -m slurm_assets process [--data-dir D] [--start D0 --end D1] [--force]``.

Materializes, in-process through Dagster (the same assets and checks as in the UI),
every landing day whose drops have not been processed yet, as one run per batch of
days (partition-range tags), then refreshes ``running_jobs`` and the DuckDB views.
Runs are recorded in ``$DAGSTER_HOME`` when it is set (visible in ``dagster dev``),
else in a temporary instance.

Exit codes: 0 success (also: nothing to do), 1 a run failed, 2 bad arguments or state.
"""

import argparse
import sys
import time
from pathlib import Path

import dagster as dg
from dagster._core.errors import DagsterHomeNotSetError

from slurm_assets import settings
from slurm_assets.defs.partitions import daily_backfill_policy, daily_partitions
from slurm_assets.storage import landing, paths, state

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m slurm_assets", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    proc = sub.add_parser("process", help="materialize every day with unprocessed drops, then DuckDB")
    proc.add_argument("--data-dir", type=Path, default=None, help="DATA_DIR (default: $SLURM_USAGE_DATA_DIR or ./data)")
    proc.add_argument("--start", help="first UTC day to consider (YYYY-MM-DD)")
    proc.add_argument("--end", help="last UTC day to consider (YYYY-MM-DD, inclusive)")
    proc.add_argument("--force", action="store_true", help="reprocess every day with drops in the range")
    return parser.parse_args(argv)


def open_instance() -> dg.DagsterInstance:
    try:
        return dg.DagsterInstance.get()
    except DagsterHomeNotSetError:  # no DAGSTER_HOME: a temporary instance
        return dg.DagsterInstance.ephemeral()


def report_checks(result: dg.ExecuteInProcessResult) -> int:
    failed = 0
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            failed += 1
            meta = {k: v.value for k, v in evaluation.metadata.items()}
            print(f"  check {evaluation.check_name} on {evaluation.asset_key.to_user_string()} FAILED: {meta}")
    return failed


def still_processed(data_dir: Path, listing: list[tuple[str, str, str]]) -> dict[str, str]:
    """The processed-days state, minus days whose ``drops`` files are gone (a deleted warehouse is rebuilt)."""
    processed = state.read_processed(data_dir)
    return {
        day: digest for day, digest in processed.items()
        if all(paths.partition_file(data_dir, "drops", cluster, d).exists() for cluster, d, _id in listing if d == day)
    }


def process(data_dir: Path, start: str | None, end: str | None, force: bool) -> int:
    from slurm_assets.definitions import (
        defs as load_defs,  # loading Dagster definitions is the slow part
    )

    listing = [(d.cluster, d.day, d.drop_id) for d in landing.list_drops(data_dir)
               if (start is None or d.day >= start) and (end is None or d.day <= end)]
    known = set(daily_partitions.get_partition_keys())
    outside = sorted({day for _, day, _ in listing if day not in known})
    if outside:
        print(f"warning: landing days outside the daily partitions are skipped: {', '.join(outside[:10])}",
              file=sys.stderr)
    current = landing.day_digests([item for item in listing if item[1] in known])
    todo = sorted(current) if force else landing.days_with_new_drops(current, still_processed(data_dir, listing))
    batches = landing.batch_days(todo, daily_backfill_policy.max_partitions_per_run or 100)
    print(f"{data_dir}: {len(listing)} drops on {len(current)} days; {len(todo)} days to process "
          f"in {len(batches)} run(s)")
    defs = load_defs()
    run_config = {
        "resources": {"storage": {"config": {"data_dir": str(data_dir)}}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},  # progress lines below, not event logs
    }
    instance = open_instance()
    for first, last in batches:
        began = time.monotonic()
        result = defs.resolve_job_def("daily_tables_job").execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )
        if not result.success:
            print(f"  {first}..{last}: run {result.run_id} FAILED", file=sys.stderr)
            return EXIT_RUN_FAILED
        state.mark_processed(data_dir, {d: current[d] for d in todo if first <= d <= last})
        print(f"  {first}..{last}: done in {time.monotonic() - began:.1f} s "
              f"({report_checks(result)} failed checks; run {result.run_id})")
    if batches or not paths.duckdb_path(data_dir).exists():
        result = defs.resolve_job_def("warehouse_job").execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False)
        if not result.success:
            print(f"  running_jobs + DuckDB: run {result.run_id} FAILED", file=sys.stderr)
            return EXIT_RUN_FAILED
        print(f"  running_jobs + DuckDB views: done ({paths.duckdb_path(data_dir)})")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        for day in (args.start, args.end):
            if day is not None:
                paths.check_day(day)
        data_dir = (args.data_dir or settings.data_dir()).resolve()
        return process(data_dir, args.start, args.end, args.force)
    except (paths.InvalidNameError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
