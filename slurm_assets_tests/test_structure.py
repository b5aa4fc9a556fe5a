"""Protects the code's shape (STYLE.md, issue 13): no function in product code over 80 lines, no module over 500
lines but the single-file agent, a plain ``ruff check .`` passes with the project's own configuration, and the
tree is formatted by ``ruff format`` (the one formatter)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("slurm_assets", "streamlit_app", "agent", "bench")
AGENT = Path("agent/slurm-usage-history-exporter.py")  # one stdlib file by design: no module limit
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500
# Accepted exceptions (none): an entry must still be over the limits, and splitting beats adding one.
KNOWN_OVER: dict[str, int] = {}


def product_files() -> list[Path]:
    return sorted(p.relative_to(ROOT) for root in PRODUCT for p in (ROOT / root).rglob("*.py"))


def long_functions(path: Path) -> dict[str, int]:
    """``{"path::qualified.name": lines}`` of the functions over MAX_FUNCTION_LINES (decorators included)."""
    found = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            name = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}."
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([d.lineno for d in child.decorator_list] + [child.lineno])
                lines = child.end_lineno - start + 1
                if lines > MAX_FUNCTION_LINES:
                    found[f"{path}::{name[:-1]}"] = lines
            visit(child, name)

    visit(ast.parse((ROOT / path).read_text()), "")
    return found


def over_limits() -> dict[str, int]:
    over = {}
    for path in product_files():
        lines = len((ROOT / path).read_text().splitlines())
        if lines > MAX_MODULE_LINES and path != AGENT:
            over[str(path)] = lines
        over.update(long_functions(path))
    return over


def test_functions_and_modules_stay_small():
    over = over_limits()
    new = {k: v for k, v in over.items() if k not in KNOWN_OVER}
    assert not new, (
        f"over {MAX_FUNCTION_LINES} lines per function / {MAX_MODULE_LINES} per module: {new}; "
        "split them (docs/ARCHITECTURE.md)"
    )
    fixed = sorted(set(KNOWN_OVER) - set(over))
    assert not fixed, f"no longer over the limits, remove them from KNOWN_OVER: {fixed}"


def test_the_limits_are_measured(tmp_path, monkeypatch):
    body = "".join(f"        x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "m.py").write_text(
        f"class C:\n    def long(self):\n{body}        return 1\n\n    def short(self):\n        pass\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert long_functions(Path("m.py")) == {"m.py::C.long": MAX_FUNCTION_LINES + 2}


def _ruff(*args: str) -> subprocess.CompletedProcess:
    """The project's ruff on the whole tree (skipped where it is not installed, a failure under CI=true)."""
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but ruff is not installed in {ruff.parent}", pytrace=False)
        pytest.skip(f"ruff not installed in {ruff.parent}")
    return subprocess.run([str(ruff), *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_check_passes_with_the_project_configuration():
    proc = _ruff("check", ".")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr


def test_the_tree_is_ruff_formatted():
    """`ruff format` is the one formatter: a file it would change fails here (fix: ruff format <file>)."""
    proc = _ruff("format", "--check", ".")
    assert proc.returncode == 0, (
        proc.stdout[-3000:] + proc.stderr + "\nrun `.venv/bin/ruff format` on the files listed above"
    )
