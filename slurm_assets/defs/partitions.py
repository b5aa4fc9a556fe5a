"""The one daily (UTC) partitioning shared by every asset, and the backfill policy that batches days."""

import dagster as dg

from slurm_assets import settings


def daily_partitions() -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions from ``SLURM_USAGE_FIRST_DAY`` on (DESIGN.md "Dagster").

    A function, called when the code location loads (the ``@dg.definitions`` builders), never at
    import: the setting is read then, and calls with the same setting give equal definitions.
    """
    return dg.DailyPartitionsDefinition(start_date=settings.first_day(), timezone="UTC", end_offset=1)


# A year's backfill runs as a handful of runs over partition ranges, not 365 tiny runs.
daily_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=100)


def monthly_partitions() -> dg.MonthlyPartitionsDefinition:
    """Reports: one UTC month per partition (key: the month's first day), from the month of
    ``SLURM_USAGE_FIRST_DAY``; the current month is offered too (a partial report, marked as such)."""
    return dg.MonthlyPartitionsDefinition(start_date=settings.first_day()[:7] + "-01", timezone="UTC", end_offset=1)
