"""A stand-in ``sacct`` that answers from the demo generator (demo, benchmarks, agent tests).

    python -m slurm_assets.demo.fake_sacct --allusers --duplicates --parsable2 \\
        --format=JobID,JobIDRaw,State -S 2026-11-01T00:00:00 -E 2026-11-02T00:00:00 -M alpha

Understands ``--version``, ``--helpformat``, ``-S/--starttime``, ``-E/--endtime``,
``-o/--format``, ``-P/--parsable2``, ``-p/--parsable``, ``-a/--allusers``,
``-D/--duplicates``, ``-M/--clusters``, ``-X/--allocations``, ``-n/--noheader``,
``--noconvert``; anything else is an error (exit 1), as an unsupported query
must not pass silently. Times are UTC (the agent runs sacct with ``TZ=UTC``).
Environment (read through ``slurm_assets.settings.demo_slurm_env``):
``SLURM_DEMO_CLUSTER`` (default ``alpha``; ``-M`` overrides), ``SLURM_DEMO_SEED``
(0), ``SLURM_DEMO_NOW`` (ISO UTC time or epoch seconds; default: the clock),
``SLURM_DEMO_JOBS_PER_DAY`` (300).

``install_fake_slurm(bin_dir)`` writes executable ``sacct``, ``scontrol`` and ``sacctmgr``
scripts that ``exec`` this interpreter on these modules.
"""

import argparse
import datetime as dt
import os
import stat
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from slurm_assets import settings
from slurm_assets.demo import catalog, generate

DEFAULT_CLUSTER = "alpha"
DEFAULT_JOBS_PER_DAY = 300


class UsageError(ValueError):
    """A command line or environment value the stand-in cannot answer; the message says which."""


def parse_sacct_time(text: str, now: int) -> int:
    """sacct's -S/-E forms we accept: ``now``, ``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM[:SS]`` (UTC), epoch seconds."""
    value = text.strip()
    if value.lower() == "now":
        return now
    if value.isdigit() and len(value) > 8:
        return int(value)
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            moment = dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        return int(moment.timestamp())
    raise UsageError(f"invalid time {text!r}: use YYYY-MM-DD[THH:MM[:SS]] (UTC), now, or epoch seconds")


def demo_config(cluster: str, env: Mapping[str, str]) -> generate.DemoConfig:
    """The generator config for ``cluster`` from the SLURM_DEMO_* values in ``env``."""
    now_text = env.get("SLURM_DEMO_NOW", "").strip()
    if not now_text:
        now = int(time.time())
    elif now_text.isdigit():
        now = int(now_text)
    else:
        try:
            moment = dt.datetime.fromisoformat(now_text)  # 3.11 reads a trailing Z
        except ValueError as err:
            raise UsageError(f"SLURM_DEMO_NOW={now_text!r}: expected ISO time (2026-11-25T12:00:00Z) or epoch") from err
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        now = int(moment.timestamp())
    try:
        seed = int(env.get("SLURM_DEMO_SEED", "0") or 0)
        jobs = int(env.get("SLURM_DEMO_JOBS_PER_DAY", str(DEFAULT_JOBS_PER_DAY)) or DEFAULT_JOBS_PER_DAY)
    except ValueError as err:
        raise UsageError(f"SLURM_DEMO_SEED and SLURM_DEMO_JOBS_PER_DAY must be integers ({err})") from err
    return generate.DemoConfig(cluster=cluster, now=now, seed=seed, jobs_per_day=jobs)


def helpformat_text() -> str:
    """``sacct --helpformat`` as sacct prints it: four names per line, each padded to 19 characters."""
    lines, row = [], []
    for name in catalog.SACCT_FIELDS:
        row.append(f"{name:<19}")
        if len(row) == 4:
            lines.append(" ".join(row))
            row = []
    if row:
        lines.append(" ".join(row))
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sacct", add_help=True, allow_abbrev=False)
    p.add_argument("-V", "--version", action="store_true")
    p.add_argument("-e", "--helpformat", action="store_true")
    p.add_argument("-S", "--starttime")
    p.add_argument("-E", "--endtime")
    p.add_argument("-o", "--format", action="append")
    p.add_argument("-P", "--parsable2", action="store_true")
    p.add_argument("-p", "--parsable", action="store_true")
    p.add_argument("-a", "--allusers", action="store_true")
    p.add_argument("-D", "--duplicates", action="store_true")
    p.add_argument("-M", "--clusters")
    p.add_argument("-X", "--allocations", action="store_true")
    p.add_argument("-n", "--noheader", action="store_true")
    p.add_argument("--noconvert", action="store_true")
    return p


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None, out=None) -> int:
    """Run one sacct query; returns the exit code (0 ok, 1 error, like sacct)."""
    env = settings.demo_slurm_env() if env is None else env
    out = sys.stdout.buffer if out is None else out
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.version:
        out.write((catalog.SACCT_VERSION + "\n").encode())
        return 0
    if args.helpformat:
        out.write(helpformat_text().encode())
        return 0
    try:
        if not (args.parsable2 or args.parsable):
            raise UsageError("the demo sacct prints only --parsable2 / --parsable output; add -P")
        fields = generate.resolve_fields(",".join(args.format) if args.format else None)
        clusters = [c for c in (args.clusters or env.get("SLURM_DEMO_CLUSTER") or DEFAULT_CLUSTER).split(",") if c]
        cfgs = [demo_config(c, env) for c in clusters]
        now = cfgs[0].now
        if args.starttime:
            start = parse_sacct_time(args.starttime, now)
        else:  # sacct's default: since midnight today
            start = now - now % generate.DAY
        end = parse_sacct_time(args.endtime, now) if args.endtime else now
        if start > end:
            raise UsageError(f"Start time ({args.starttime}) requested is after end time ({args.endtime or 'now'}).")
    except (UsageError, ValueError) as err:
        sys.stderr.write(f"sacct: error: {err}\n")
        return 1
    if args.parsable and not args.parsable2:
        _write_parsable(out, cfgs, start, end, fields, args)
    else:
        generate.write_sacct(
            out,
            cfgs,
            start,
            end,
            fields,
            duplicates=args.duplicates,
            noconvert=args.noconvert,
            allocations_only=args.allocations,
            header=not args.noheader,
        )
    out.flush()
    return 0


def _write_parsable(out, cfgs, start, end, fields, args) -> None:
    """``--parsable``: like --parsable2 with a trailing ``|`` on every line."""
    if not args.noheader:
        out.write((generate.header_line(fields) + "|\n").encode())
    for cfg in cfgs:
        for line in generate.iter_lines(
            cfg,
            start,
            end,
            fields,
            duplicates=args.duplicates,
            noconvert=args.noconvert,
            allocations_only=args.allocations,
        ):
            out.write((line + "|\n").encode())


def install_fake_slurm(bin_dir: Path, python: str | None = None) -> dict[str, Path]:
    """Write executable ``sacct``, ``scontrol`` and ``sacctmgr`` stand-ins into ``bin_dir``; return their paths.

    ``sacctmgr`` answers the associations and coordinators from the demo catalogue (fake_sacctmgr.py) and
    refuses anything else; ``sreport`` refuses (the demo has no slurmdbd): without them the agent would ask
    the machine's real Slurm, if any, and mix its capacity and associations into the demo's clusters."""
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    python = python or sys.executable
    written = {}
    for command, module in (
        ("sacct", "slurm_assets.demo.fake_sacct"),
        ("scontrol", "slurm_assets.demo.fake_scontrol"),
        ("sacctmgr", "slurm_assets.demo.fake_sacctmgr"),
    ):
        path = bin_dir / command
        tmp = path.with_name(f".{command}.tmp")
        tmp.write_text(
            f'#!/bin/sh\n# demo stand-in written by slurm_assets.demo.fake_sacct\nexec "{python}" -m {module} "$@"\n'
        )
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(tmp, path)
        written[command] = path
    for command in ("sreport",):
        path = bin_dir / command
        tmp = path.with_name(f".{command}.tmp")
        tmp.write_text(
            f"#!/bin/sh\n# demo stand-in written by slurm_assets.demo.fake_sacct\n"
            f"echo '{command}: the demo has no slurmdbd (capacity comes from the scontrol stand-in)' >&2\n"
            "exit 1\n"
        )
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(tmp, path)
        written[command] = path
    return written


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `sacct ... | head` closes the pipe early, as with the real sacct
        sys.exit(0)
