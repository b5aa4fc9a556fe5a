"""``process`` and ``import`` on an ``s3://`` data root (moto): runs side by side in forked workers
(``--workers 2``) write the same daily files as one worker on local disk, and imported sacct logs become
drops in the bucket that ``process`` turns into the reference numbers."""

import pytest

from slurm_assets.__main__ import EXIT_OK, main
from slurm_assets.storage import landing, paths, state
from slurm_assets_tests.importer.test_cli import CAPTURE, reference, totals
from slurm_assets_tests.test_main import DAYS, land_days


@pytest.fixture(autouse=True)
def no_dagster_home(monkeypatch, tmp_path):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("SLURM_USAGE_LOCAL_DIR", str(tmp_path / "local"))


def daily_files(data_dir) -> dict[str, bytes]:
    """The daily and snapshot Parquet files (monthly compacts name their sources' mtimes: not comparable)."""
    root = paths.warehouse_root(data_dir)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.glob("*/cluster=*/*/part-0.parquet")}


def test_parallel_runs_on_s3_write_what_one_run_writes_on_disk(s3_bucket, tmp_path, capsys):
    local = land_days(tmp_path / "serial")
    land_days(s3_bucket.url)
    assert main(["process", "--data-dir", s3_bucket.url, "--workers", "2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "16 days to process in 2 run(s)" in out and "FAILED" not in out
    assert main(["process", "--data-dir", str(local), "--workers", "1"]) == EXIT_OK
    remote = daily_files(s3_bucket.url)
    assert remote == daily_files(local) and len(remote) > 16
    assert set(state.read_processed(s3_bucket.url)) == set(DAYS)


def test_import_into_s3_then_process(s3_bucket, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLURM_USAGE_FIRST_DAY", "2015-01-01")
    log = tmp_path / "sacct.psv"
    log.write_bytes(CAPTURE)
    assert main(["import", "--data-dir", s3_bucket.url, "--cluster", "alpha", str(log)]) == 0
    assert "1 new drops" in capsys.readouterr().out
    assert main(["import", "--data-dir", s3_bucket.url, "--cluster", "alpha", str(log)]) == 0
    assert "0 new drops, 1 already there" in capsys.readouterr().out
    (ref,) = landing.list_drops(s3_bucket.url)
    assert ref.manifest()["source"] == "import"
    assert main(["process", "--data-dir", s3_bucket.url]) == EXIT_OK
    assert totals(s3_bucket.url) == reference(CAPTURE)
