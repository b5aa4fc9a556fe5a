"""The one daily (UTC) partitioning shared by every asset, and the backfill policy that batches days."""

import dagster as dg

PARTITIONS_START = "2020-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC", end_offset=1)

# A year's backfill runs as a handful of runs over partition ranges, not 365 tiny runs.
daily_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=100)
