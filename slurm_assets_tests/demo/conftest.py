"""Shared inputs of the demo tests: a fixed ``now``, the real 22.05 captures, sacct text helpers."""

import datetime as dt
import io
from pathlib import Path

import pytest

from slurm_assets.demo import generate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# A Wednesday afternoon: busy queue, so RUNNING and PENDING jobs exist at `now`.
NOW = dt.datetime(2026, 11, 25, 14, 30, tzinfo=dt.UTC)
NOW_S = int(NOW.timestamp())
DAY = 86400


def day_s(day: dt.date) -> int:
    return generate.day_start(day)


def real_capture(name: str) -> str:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"real capture {path} missing (written by slurm_assets_tests/testbed/capture-fixtures.sh)")
    return path.read_text()


def sacct_text(cfg: generate.DemoConfig, start: int, end: int, fields, **kw) -> str:
    out = io.BytesIO()
    generate.write_sacct(out, [cfg], start, end, fields, **kw)
    return out.getvalue().decode()


def rows(text: str) -> list[dict[str, str]]:
    """Lines of --parsable2 text as dicts keyed by the header's field names."""
    lines = text.splitlines()
    header = lines[0].split("|")
    out = []
    for line in lines[1:]:
        values = line.split("|")
        assert len(values) == len(header), f"field count {len(values)} != {len(header)}: {line}"
        out.append(dict(zip(header, values)))
    return out


@pytest.fixture(scope="session")
def agent_fields() -> tuple[str, ...]:
    """The broad field list of the real capture (what the agent asks for)."""
    header = real_capture("sacct_22.05_alpha.psv").splitlines()[0]
    return tuple(header.split("|"))


@pytest.fixture(scope="session")
def sixty_days(agent_fields) -> list[dict[str, str]]:
    """60 days of cluster alpha up to NOW, one window, with --duplicates."""
    cfg = generate.DemoConfig("alpha", now=NOW_S, seed=7, jobs_per_day=100)
    start = day_s(NOW.date() - dt.timedelta(days=59))
    return rows(sacct_text(cfg, start, NOW_S, agent_fields, duplicates=True))
