"""Protects ``SLURM_USAGE_FIRST_DAY`` (issue 15 item 4): the daily partitions start on it; ``process``, the
receiver (native and seed JSON) refuse earlier days with an error naming it, never a warning and exit 0; the
definitions read it when they load, never at import."""

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from slurm_assets import settings
from slurm_assets.__main__ import EXIT_USAGE, main
from slurm_assets.definitions import defs as load_defs
from slurm_assets.receiver.app import create_app
from slurm_assets.settings import ReceiverSettings
from slurm_assets.storage import landing, paths, state
from slurm_assets_tests.defs import conftest as defs_conftest
from slurm_assets_tests.receiver.conftest import SHARED_KEY, drop_body, make_drop, native_headers

landed = defs_conftest.landed  # drops on 2024-05-01 and 2024-05-02
INGEST = "/api/data/ingest"


@pytest.fixture(autouse=True)
def no_dagster_home(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def test_partitions_start_on_the_setting(monkeypatch):
    monkeypatch.setenv("SLURM_USAGE_FIRST_DAY", "2024-05-02")
    graph = load_defs().resolve_asset_graph()
    starts = {
        k.to_user_string(): graph.get(k).partitions_def.get_first_partition_key()
        for k in graph.get_all_asset_keys()
        if graph.get(k).partitions_def
    }
    # daily assets start on the day; monthly ones (monthly_reports) on the month that holds it
    assert starts and {key: first for key, first in starts.items() if key != "monthly_reports"} == {
        key: "2024-05-02" for key in starts if key != "monthly_reports"
    }
    assert starts["monthly_reports"] == "2024-05-01"
    monkeypatch.delenv("SLURM_USAGE_FIRST_DAY")
    assert settings.first_day() == settings.DEFAULT_FIRST_DAY


@pytest.mark.parametrize("value", ["2024-13-01", "yesterday", "20240501", "1960-01-01"])
def test_a_bad_setting_is_an_error_naming_it(monkeypatch, value):
    monkeypatch.setenv("SLURM_USAGE_FIRST_DAY", value)
    with pytest.raises(settings.FirstDayError, match="SLURM_USAGE_FIRST_DAY"):
        settings.first_day()


def test_definitions_read_no_environment_at_import():
    # a setting that would fail when read: importing every defs module must still work; loading names it
    code = (
        "import importlib, pkgutil, slurm_assets.defs as d\n"
        "for m in pkgutil.walk_packages(d.__path__, 'slurm_assets.defs.'): importlib.import_module(m.name)\n"
        "from slurm_assets.definitions import defs\n"
        "try:\n    defs()\nexcept Exception as err:\n    print('LOAD FAILED', err, err.__cause__)\n"
    )
    env = {**os.environ, "SLURM_USAGE_FIRST_DAY": "not-a-day"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True)
    assert "LOAD FAILED" in out.stdout and "SLURM_USAGE_FIRST_DAY='not-a-day'" in out.stdout


def test_process_refuses_earlier_days_naming_the_setting(landed, monkeypatch, capsys):
    monkeypatch.setenv("SLURM_USAGE_FIRST_DAY", "2024-05-02")
    assert main(["process", "--data-dir", str(landed)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "SLURM_USAGE_FIRST_DAY=2024-05-02" in err and "2024-05-01" in err
    # the other day is processed; the early one is not
    assert set(state.read_processed(landed)) == {"2024-05-02"}
    assert not paths.partition_file(landed, "drops", "alpha", "2024-05-01").exists()
    assert main(["process", "--data-dir", str(landed), "--start", "2024-04-30"]) == EXIT_USAGE
    assert "SLURM_USAGE_FIRST_DAY" in capsys.readouterr().err
    monkeypatch.setenv("SLURM_USAGE_FIRST_DAY", "2024-05-01")  # set early enough: everything, exit 0
    assert main(["process", "--data-dir", str(landed)]) == 0
    assert set(state.read_processed(landed)) == {"2024-05-01", "2024-05-02"}


def test_receiver_refuses_earlier_days_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_USAGE_FIRST_DAY", "2024-05-02")
    client = TestClient(create_app(ReceiverSettings(api_keys=SHARED_KEY, data_dir=tmp_path)))
    manifest, gz = make_drop()  # 2024-05-01
    answer = client.post(INGEST, content=drop_body(manifest, gz), headers=native_headers())
    assert answer.status_code == 422 and "SLURM_USAGE_FIRST_DAY=2024-05-02" in answer.text
    body = {
        "hostname": "beta",
        "jobs": [
            {"JobID": "1", "State": "COMPLETED", "End": "2024-05-02T10:00:00"},
            {"JobID": "2", "State": "COMPLETED", "End": "2024-05-01T10:00:00"},
        ],
    }
    answer = client.post(INGEST, json=body, headers={"X-API-Key": SHARED_KEY})
    assert answer.status_code == 422 and "SLURM_USAGE_FIRST_DAY" in answer.text and "2024-05-01" in answer.text
    assert landing.list_drops(tmp_path) == []  # nothing of either body stored
    monkeypatch.setenv("SLURM_USAGE_FIRST_DAY", "2024-05-01")
    assert client.post(INGEST, content=drop_body(manifest, gz), headers=native_headers()).status_code == 200
