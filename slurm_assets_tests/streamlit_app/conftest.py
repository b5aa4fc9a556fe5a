"""Fixtures for the dashboard tests: a synthetic warehouse, an empty one, AppTest runners, direct SQL, and for the
browser tests ``streamlit run`` on a loopback port and Debian's chromium."""

import contextlib
import datetime as dt
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from slurm_assets.demo.services import streamlit_argv, terminate, wait_answering
from slurm_assets.storage.warehouse import connect_readonly
from slurm_assets_tests.ports import free_port
from slurm_assets_tests.streamlit_app.synthetic import build_warehouse

APP = Path(__file__).resolve().parents[2] / "streamlit_app" / "app.py"
LAST_DAY = dt.date(2026, 3, 31)  # fixed: the tests pass explicit date ranges


@dataclass
class Warehouse:
    root: Path
    first: dt.date
    last: dt.date

    def sql(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Direct DuckDB SQL over the same Parquet files (the views of storage.warehouse)."""
        con = connect_readonly(self.root)
        try:
            return con.execute(sql, params or []).df()
        finally:
            con.close()

    def one(self, sql: str, params: list | None = None):
        return self.sql(sql, params).iloc[0, 0]


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory) -> Warehouse:
    root = tmp_path_factory.mktemp("dash-warehouse")
    info = build_warehouse(root, last_day=LAST_DAY)
    return Warehouse(root, info["first"], info["last"])


@pytest.fixture
def empty_warehouse(tmp_path) -> Warehouse:
    return Warehouse(tmp_path / "no-data-yet", LAST_DAY, LAST_DAY)


def _clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def open_app(monkeypatch):
    """open_app(warehouse, page, **query_params) -> AppTest that ran the page (no exception asserted)."""

    def run(wh: Warehouse, page: str | None = None, **params) -> AppTest:
        monkeypatch.setenv("SLURM_USAGE_DATA_DIR", str(wh.root))
        # No [auth] here: the app serves the local operator only on loopback (streamlit_app/auth.py).
        st_config.set_option("server.address", "127.0.0.1")
        _clear_caches()
        at = AppTest.from_file(str(APP), default_timeout=60)
        for key, value in params.items():
            at.query_params[key] = value
        if page:  # st.Page url paths are the file names, so the page resolves before the first run
            at.switch_page(f"views/{page}.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    yield run
    st_config.set_option("server.address", None)
    _clear_caches()


@pytest.fixture(scope="session")
def pipeline_warehouse(tmp_path_factory) -> Warehouse:
    """A warehouse made by the real path: demo sacct -> agent drops -> `python -m slurm_assets process`."""
    import os
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("dash-pipeline")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "slurm_assets.demo.stack",
            "--data-dir",
            str(root),
            "--no-serve",
            "--days",
            "4",
            "--jobs-per-day",
            "30",
            "--clusters",
            "alpha,beta",
        ],
        cwd=APP.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    today = dt.datetime.now(dt.UTC).date()
    return Warehouse(root, today - dt.timedelta(days=3), today)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def require_chromium() -> None:
    """Skip (with the reason) where Debian's chromium is missing; a failure under CI=true."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing under CI=true: install Debian's chromium (see .ci/run)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


@contextlib.contextmanager
def streamlit_server(root: Path, log: Path, *, port: int | None = None, secrets: Path | None = None, **env: str):
    """``streamlit run`` of the dashboard over ``root`` on 127.0.0.1: yields its URL, stops it after.

    ``port``: a free one unless given (a secrets file naming the URL needs it first); ``secrets``: a
    ``secrets.toml`` (``[auth]`` for the login tests); ``env``: extra environment for the server.
    """
    require_chromium()
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    extra = ["--server.fileWatcherType", "none"] + (["--secrets.files", str(secrets)] if secrets else [])
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            streamlit_argv(port, "127.0.0.1", *extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | {"SLURM_USAGE_DATA_DIR": str(root)} | env,
            cwd=APP.parents[1],
        )
    try:
        if not wait_answering(f"{url}/_stcore/health", proc, timeout=120):
            pytest.fail(f"streamlit did not start on {url}: {log.read_text()[-3000:]}")
        yield url
    finally:
        terminate(proc)
