"""``python -m slurm_assets daemon [dagster-daemon run options]``: Dagster's daemon, with its backfill loop
ticking every ``SLURM_USAGE_BACKFILL_TICK_S`` seconds (default 2) instead of Dagster's fixed 30.

A backfill launched from the UI waits for the daemon's next backfill tick before its runs are submitted,
and shows COMPLETED only at the tick after its last run: with 30 s ticks that is ~30 s (up to 60) added to
every backfill, a year of days included (bench/README.md item 14). Dagster offers no setting for it (the
loop sleeps ``dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS``, read at each tick); an idle
tick is one query of the backfills table. Everything else is ``dagster-daemon run`` unchanged (same
options, same instance, same daemons). The other tick of the path, the run queue's, is the instance
file's ``run_coordinator.config.dequeue_interval_seconds`` (deploy/*.yaml).
"""

import sys

from slurm_assets import settings


def main(argv: list[str]) -> int:
    """Run ``dagster-daemon run argv`` in this process with the shorter backfill tick."""
    import dagster._daemon.controller as controller
    from dagster._daemon.cli import cli

    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = settings.backfill_tick_s()
    try:
        cli.main(args=["run", *argv], prog_name="python -m slurm_assets daemon", standalone_mode=True)
    except SystemExit as done:  # click ends with sys.exit
        return done.code if isinstance(done.code, int) else 0 if done.code is None else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
