"""Protects the shipped Streamlit settings (issue 18): Streamlit itself, loading .streamlit/config.toml the way
``streamlit run streamlit_app/app.py`` does (from the repository root, or from anywhere through the script's
folder), binds 127.0.0.1, sends no usage statistics and shows no deploy button."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "streamlit_app" / "app.py"
PROBE = """
import sys
from streamlit import config
config._main_script_path = sys.argv[1] or None  # what `streamlit run <script>` sets before reading the config
config.get_config_options(force_reparse=True)
for name in ("server.address", "browser.gatherUsageStats", "client.toolbarMode", "server.headless"):
    print(name, config.get_option(name))
"""


@pytest.mark.parametrize(("cwd", "script"), [("repo", ""), ("elsewhere", str(APP))], ids=["repo root", "elsewhere"])
def test_streamlit_loads_the_shipped_config(tmp_path, cwd, script):
    home = tmp_path / "home"  # no ~/.streamlit of the machine's user in the way
    home.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, script],
        cwd=REPO if cwd == "repo" else tmp_path,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    options = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert options == {
        "server.address": "127.0.0.1",
        "browser.gatherUsageStats": "False",
        "client.toolbarMode": "viewer",
        "server.headless": "True",
    }, proc.stdout + proc.stderr


def test_the_script_folder_links_to_the_one_config():
    assert (REPO / "streamlit_app" / ".streamlit").resolve() == (REPO / ".streamlit").resolve()
