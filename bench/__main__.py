"""``make bench`` (``python -m bench [--quick]``): every scenario beside its limit; JSON + Markdown results."""

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

from bench import report, scenarios
from bench import workload as wl

HERE = Path(__file__).resolve().parent


def workloads(quick: bool) -> dict[str, wl.Workload]:
    if quick:
        return {
            "year": wl.Workload("quick-year", ("alpha",), 20_000, 365),
            # 30 days: Dagster's bookkeeping costs ~0.1-0.2 s per day whatever the data (bench/README.md),
            # so three 365-day runs alone would break the 3-minute budget of the quick bench
            "scale": [wl.Workload(f"quick-scale-{n}", ("alpha",), n, 30) for n in (20_000, 80_000, 320_000)],
        }
    year = wl.Workload("year-1m", ("alpha",), 1_000_000, 365)
    # the 1M point of the scaling series is scenario 3's year itself (same text, cached once)
    return {
        "year": year,
        "scale": [
            wl.Workload("scale-100000", ("alpha",), 100_000, 365),
            year,
            wl.Workload("scale-10000000", ("alpha",), 10_000_000, 365),
        ],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="reduced sizes, under 3 minutes")
    p.add_argument("--cache", type=Path, default=HERE / ".cache", help="generated workloads (reused)")
    p.add_argument("--results", type=Path, default=HERE / "results")
    p.add_argument("--only", nargs="*", help="scenario numbers to run, e.g. --only 1 3")
    args = p.parse_args(argv)
    only = set(args.only or ["1", "2", "3", "4", "5"])
    plan = workloads(args.quick)
    rows: list[dict] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="slurm-bench-") as tmp:
        scratch = Path(tmp)
        year = plan["year"]
        if only & {"1", "2", "3"}:  # the agent's drops feed 2 and 3 (4 and 5 make their own data)
            print(f"building workload {year.name} (cached in {args.cache}) ...", flush=True)
            folder = wl.build(year, args.cache)
            row, data_dir = scenarios.agent(folder, year, "alpha", scratch / "agent")
        if "1" in only:
            rows.append(_show(row))
        if "2" in only:
            rows.append(_show(scenarios.receiver(data_dir, scratch / "receiver", row["size"])))
        if "3" in only:
            process = _show(scenarios.pipeline(data_dir, folder, year, scratch / "pipeline"))
            days = [d.isoformat() for d in year.day_list]  # the same year as process, for the ratio
            rows.extend([process] + [_show(r) for r in scenarios.ui_backfills(data_dir, days, scratch / "ui", process)])
        if "4" in only:
            from bench import dashboard, demo_page

            rows.extend(_show(r) for r in dashboard.run(args.quick, args.cache, scratch / "dashboard"))
            rows.extend(_show(r) for r in demo_page.run(args.cache, scratch / "demo"))
        if "5" in only:
            for work in plan["scale"]:
                print(f"building workload {work.name} ...", flush=True)
                wfolder = wl.build(work, args.cache)
                _, wdata = scenarios.agent(wfolder, work, "alpha", scratch / work.name)
                rows.append(_show(scenarios.pipeline(wdata, wfolder, work, scratch / work.name, "5 scaling")))
            rows.extend(report.scaling_rows(rows))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    suffix = "-quick" if args.quick else ""
    if args.only:  # a partial run never overwrites the day's full table
        suffix += "-only-" + "-".join(sorted(only))
    args.results.mkdir(parents=True, exist_ok=True)
    machine = {
        **report.machine(),
        "load_before": [round(x, 1) for x in load_before],
        "load_after": [round(x, 1) for x in os.getloadavg()],
    }
    result = {"date": stamp, "quick": args.quick, "machine": machine, "rows": rows}
    (args.results / f"{stamp}{suffix}.json").write_text(json.dumps(result, indent=1) + "\n")
    table = report.markdown(result)
    (args.results / f"{stamp}{suffix}.md").write_text(table)
    print(table)
    failed = [r["scenario"] for r in rows if r.get("failed")]
    if failed:
        print(f"FAILED: {failed}", file=sys.stderr)
    return 1 if failed else 0


def _show(row: dict) -> dict:
    print(report.one_line(row), flush=True)
    return row


if __name__ == "__main__":
    sys.exit(main())
