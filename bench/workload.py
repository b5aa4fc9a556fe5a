"""Bench workloads built with the project's own generator (deterministic seeds), cached on disk.

A workload is one year (or more) of per-UTC-day ``sacct --parsable2`` text for a
cluster, exactly what the agent would receive from ``sacct -S day -E day+1``
with its own field list. The stand-in ``sacct`` written by ``install_cat_sacct``
only ``cat``s those files, so the agent scenario measures the agent and not the
generator.
"""

import datetime as dt
import importlib.util
import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from slurm_assets.demo import fake_sacct, fake_scontrol, generate

ROOT = Path(__file__).resolve().parent.parent
AGENT_PATH = ROOT / "agent" / "slurm-usage-history-exporter.py"
DAY = 86400


def load_agent():
    """The agent module (a hyphenated standalone file)."""
    spec = importlib.util.spec_from_file_location("slurm_usage_agent", AGENT_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def agent_fields() -> tuple[str, ...]:
    """The --format list the agent asks the stand-in sacct for (its own probe logic)."""
    agent = load_agent()
    return tuple(agent.choose_fields(agent.parse_helpformat(fake_sacct.helpformat_text())))


@dataclass(frozen=True)
class Workload:
    """``jobs_per_year`` jobs per cluster over ``days`` days ending the day before ``end``."""

    name: str
    clusters: tuple[str, ...]
    jobs_per_year: int
    days: int
    end: str = "2026-01-01"
    seed: int = 7

    @property
    def jobs_per_day(self) -> int:
        return max(1, round(self.jobs_per_year / 365))

    @property
    def day_list(self) -> list[dt.date]:
        last = dt.date.fromisoformat(self.end) - dt.timedelta(days=1)
        return [last - dt.timedelta(days=i) for i in range(self.days - 1, -1, -1)]

    def config(self, cluster: str) -> generate.DemoConfig:
        end_epoch = int(dt.datetime.fromisoformat(self.end).replace(tzinfo=dt.UTC).timestamp())
        return generate.DemoConfig(cluster=cluster, now=end_epoch, seed=self.seed, jobs_per_day=self.jobs_per_day)


def build(workload: Workload, cache: Path) -> Path:
    """Write (once) ``cache/<name>/<cluster>/<day>.psv`` plus ``workload.json``; return the folder."""
    folder = cache / workload.name
    marker = folder / "workload.json"
    # compared as JSON (a tuple of clusters reads back as a list): a matching cache is reused
    if marker.exists() and json.loads(marker.read_text()) == json.loads(json.dumps(asdict(workload))):
        return folder
    fields = agent_fields()
    stats = {}
    for cluster in workload.clusters:
        cfg = workload.config(cluster)
        out_dir = folder / cluster
        out_dir.mkdir(parents=True, exist_ok=True)
        lines = size = 0
        for day in workload.day_list:
            start = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
            path = out_dir / f"{day.isoformat()}.psv"
            with open(path, "wb") as fh:
                lines += generate.write_sacct(fh, [cfg], start, start + DAY, fields, duplicates=True)
            size += path.stat().st_size
        (out_dir / "nodes.txt").write_text("\n".join(fake_scontrol.node_lines(cluster)) + "\n")
        stats[cluster] = {"lines": lines, "bytes": size}
    (folder / "helpformat.txt").write_text(fake_sacct.helpformat_text())
    (folder / "stats.json").write_text(json.dumps(stats, indent=1))
    marker.write_text(json.dumps(asdict(workload)))
    return folder


def day_files(folder: Path, cluster: str) -> list[Path]:
    return sorted((folder / cluster).glob("*.psv"))


def install_cat_sacct(bin_dir: Path, folder: Path, cluster: str) -> Path:
    """A POSIX-sh ``sacct``/``scontrol`` pair serving the cached day files (near-zero own cost)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    sacct = bin_dir / "sacct"
    sacct.write_text(
        "#!/bin/sh\n"
        "# bench stand-in: serves pre-generated per-day sacct text\n"
        'case "$*" in *--version*) echo "slurm 23.02.7"; exit 0;; '
        f'*--helpformat*) exec cat "{folder}/helpformat.txt";; esac\n'
        'S=""\nwhile [ $# -gt 0 ]; do case "$1" in -S) shift; S="$1";; esac; shift; done\n'
        f'exec cat "{folder}/{cluster}/${{S%%T*}}.psv"\n'
    )
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *node*) exec cat "{folder}/{cluster}/nodes.txt";; '
        f'*) echo "ClusterName = {cluster}";; esac\n'
    )
    for path in (sacct, scontrol):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return sacct


def bench_env(bin_dir: Path, **extra: str) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    env["TZ"] = "UTC"
    env.update(extra)
    return env
