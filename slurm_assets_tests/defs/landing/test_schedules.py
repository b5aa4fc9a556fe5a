"""Protects ``ssh_pull_schedule``: each daily tick pulls yesterday (complete) and today, as one range run."""

import datetime as dt

import dagster as dg

from slurm_assets.defs.landing.schedules import pull_window, ssh_pull_schedule


def test_pull_window_is_yesterday_and_today_in_utc():
    tick = dt.datetime(2024, 3, 1, 0, 30, tzinfo=dt.UTC)
    assert pull_window(tick) == ("2024-02-29", "2024-03-01")
    # a tick expressed in another zone is still resolved in UTC
    assert pull_window(tick.astimezone(dt.timezone(dt.timedelta(hours=-5)))) == ("2024-02-29", "2024-03-01")


def test_schedule_requests_the_range():
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2024, 3, 1, 0, 30, tzinfo=dt.UTC))
    request = ssh_pull_schedule(context)
    assert request.tags["dagster/asset_partition_range_start"] == "2024-02-29"
    assert request.tags["dagster/asset_partition_range_end"] == "2024-03-01"
    assert request.run_key == "ssh-pull:2024-02-29..2024-03-01"
