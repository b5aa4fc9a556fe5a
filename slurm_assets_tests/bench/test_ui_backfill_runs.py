"""A UI backfill counts as done only when every one of its runs succeeded (COMPLETED is not success), and the
daemon's backfill tick setting is checked (``python -m slurm_assets daemon``)."""

import pytest

from bench.ui_backfill import BackfillFailed, check_runs
from slurm_assets import settings


def result(status, statuses):
    return {"status": status, "runs": len(statuses), "run_statuses": statuses, "backfill_id": "b1"}


def test_every_run_must_have_succeeded(tmp_path):
    log = tmp_path / "ui_backfill.log"
    log.write_text("the daemon's log\n")
    check_runs(result("COMPLETED_SUCCESS", {"r1": "SUCCESS", "r2": "SUCCESS"}), log)
    check_runs(result("COMPLETED", {"r1": "SUCCESS"}), log)
    for status, statuses in [
        ("COMPLETED", {"r1": "SUCCESS", "r2": "FAILURE"}),  # an old-style COMPLETED
        ("COMPLETED_SUCCESS", {"r1": "CANCELED"}),
        ("COMPLETED_FAILED", {"r1": "SUCCESS"}),
        ("COMPLETED_SUCCESS", {}),  # no runs at all
        (None, {"r1": "STARTED"}),
    ]:  # timed out
        with pytest.raises(BackfillFailed, match="b1") as failed:
            check_runs(result(status, statuses), log)
        assert "the daemon's log" in str(failed.value)


def test_backfill_tick_setting(monkeypatch):
    monkeypatch.delenv(settings.BACKFILL_TICK_ENV, raising=False)
    assert settings.backfill_tick_s() == 2
    monkeypatch.setenv(settings.BACKFILL_TICK_ENV, "5")
    assert settings.backfill_tick_s() == 5
    for bad in ("0", "31", "1.5", "soon"):
        monkeypatch.setenv(settings.BACKFILL_TICK_ENV, bad)
        with pytest.raises(ValueError, match=settings.BACKFILL_TICK_ENV):
            settings.backfill_tick_s()
