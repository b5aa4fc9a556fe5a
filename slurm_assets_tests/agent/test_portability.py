"""The agent runs anywhere SLURM runs: one file, Python 3.8 syntax and semantics, standard library
only (login nodes have no pip). Checked with ruff's py38 target, the real Python 3.8 interpreter
when this machine has it (pyenv), and the list of stdlib modules. Also: the docs only mention
flags the agent has.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from slurm_assets_tests.agent.conftest import AGENT_DIR, AGENT_FILE

PY38 = Path("/root/.pyenv/versions/3.8.18/bin/python3.8")
RUFF = Path(sys.executable).parent / "ruff"


def test_ruff_py38_target_passes():
    if not RUFF.exists():
        pytest.skip(f"ruff not installed in {RUFF.parent}")
    proc = subprocess.run(
        [str(RUFF), "check", "--target-version", "py38", str(AGENT_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_parses_with_the_python38_grammar():
    ast.parse(AGENT_FILE.read_text(), feature_version=(3, 8))


def test_imports_only_the_standard_library():
    tree = ast.parse(AGENT_FILE.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in a standalone file"
            modules.add(node.module.split(".")[0])
    assert modules, "no imports found"
    assert not modules - set(sys.stdlib_module_names), f"not standard library: {modules - set(sys.stdlib_module_names)}"


@pytest.mark.skipif(not PY38.exists(), reason=f"{PY38} missing (pyenv 3.8.18 not installed on this machine)")
def test_runs_under_python38_without_site_packages(fake_slurm):
    # -I -S: isolated, no site-packages at all, so a third-party import would fail here.
    proc = subprocess.run(
        [str(PY38), "-I", "-S", "-W", "error", str(AGENT_FILE), "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("slurm-usage-history-exporter "), proc.stderr
    proc = subprocess.run(
        [
            str(PY38),
            "-I",
            "-S",
            str(AGENT_FILE),
            "--no-config",
            "--dry-run",
            "--json",
            "--start-date",
            "2024-05-01",
            "--end-date",
            "2024-05-01",
            "--sacct",
            str(fake_slurm.sacct),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=fake_slurm.env,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"jobs": 27' in proc.stdout


def test_help_documents_every_mode_and_exit_code():
    proc = subprocess.run([sys.executable, str(AGENT_FILE), "--help"], capture_output=True, text=True, check=True)
    for text in (
        "--output-dir",
        "--stdout",
        "--dry-run",
        "--json",
        "--start-date",
        "--end-date",
        "--no-config",
        "--cluster",
        "--sacct",
        "--version",
        "exit codes",
        "e.g.",
    ):
        assert text in proc.stdout, text


def test_docs_mention_only_existing_flags(agent):
    known = {opt for action in agent.build_parser()._actions for opt in action.option_strings}
    command = re.compile(r"slurm-usage-history-exporter(?:\.py)?((?: +(?:--?[\w-]+|[^\s|<>&;]+))*)")
    checked = 0
    for doc in ("README.md", "QUICKSTART.md"):
        in_code = False
        for line in (AGENT_DIR / doc).read_text().splitlines():
            if line.startswith("```"):
                in_code = not in_code
                continue
            if not in_code or "install.sh" in line:
                continue
            for match in command.finditer(line):
                for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", match.group(1)):
                    assert flag in known, f"{doc}: {flag} in {line!r} is not an exporter option"
                    checked += 1
    assert checked > 10


def test_install_help_lists_its_options():
    proc = subprocess.run(["bash", str(AGENT_DIR / "install.sh"), "--help"], capture_output=True, text=True, check=True)
    for flag in ("--user", "--no-systemd", "--uninstall", "--purge", "--prefix", "DESTDIR"):
        assert flag in proc.stdout, flag
