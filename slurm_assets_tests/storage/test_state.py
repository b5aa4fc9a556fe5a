"""Protects the ``process`` bookkeeping: processed days survive restarts, merge, and a corrupt file is a clear error."""

import pytest

from slurm_assets.storage import state


def test_round_trip_and_merge(tmp_path):
    assert state.read_processed(tmp_path) == {}
    state.mark_processed(tmp_path, {"2024-05-01": "aa"})
    state.mark_processed(tmp_path, {"2024-05-02": "bb", "2024-05-01": "cc"})
    assert state.read_processed(tmp_path) == {"2024-05-01": "cc", "2024-05-02": "bb"}


def test_corrupt_file_says_how_to_recover(tmp_path):
    state.processed_path(tmp_path).parent.mkdir(parents=True)
    state.processed_path(tmp_path).write_text("[]")
    with pytest.raises(ValueError, match="delete it"):
        state.read_processed(tmp_path)
