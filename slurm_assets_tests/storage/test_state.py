"""Protects the processed-days bookkeeping (the one cursor): built days become processed only with their usage step,
new drops replace a day's digest, and a corrupt file is a clear error."""

import pytest

from slurm_assets.storage import state


def test_built_days_become_processed_when_their_usage_step_is_done(tmp_path):
    assert state.read_processed(tmp_path) == {}
    state.mark_built(tmp_path, {"2024-05-01": "aa", "2024-05-02": "bb"})
    assert state.read_processed(tmp_path) == {}  # day tables written, usage not yet: not processed
    state.promote_built(tmp_path, ["2024-05-01", "2024-05-03"])  # a day never built is not made processed
    assert state.read_processed(tmp_path) == {"2024-05-01": "aa"}
    state.mark_built(tmp_path, {"2024-05-01": "cc"})  # new drops, built again
    state.promote_built(tmp_path, ["2024-05-01", "2024-05-02"])
    assert state.read_processed(tmp_path) == {"2024-05-01": "cc", "2024-05-02": "bb"}


def test_corrupt_file_says_how_to_recover(tmp_path):
    state.processed_path(tmp_path).parent.mkdir(parents=True)
    state.processed_path(tmp_path).write_text("[]")
    with pytest.raises(ValueError, match="delete it"):
        state.read_processed(tmp_path)
