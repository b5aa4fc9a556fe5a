"""Turn bench rows into the Markdown table the README shows."""

import os
import platform


def _load(machine: dict) -> str:
    """The load averages (1, 5, 15 min) before and after the run: the machine is shared."""
    if "load_before" not in machine:
        return ""
    return f", load average {machine['load_before']} before, {machine['load_after']} after"


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def one_line(row: dict) -> str:
    if "ours" not in row:
        return f"{row['scenario']}: {row.get('note', '')}"
    return (
        f"{row['scenario']} [{row['size']}]: {row['ours']['wall_s']} s / limit {row['limit']['wall_s']} s "
        f"= {row['ratio']}x (target <= {row['target_ratio']}x), peak RSS {row['ours']['peak_rss_mib']} MiB"
        f" -> {'met' if row['met'] else 'NOT met'}"
    )


def scaling_rows(rows: list[dict]) -> list[dict]:
    """Growth between consecutive scaling sizes: time may grow at most linearly (x1.1 slack)."""
    scale = [r for r in rows if r["scenario"].startswith("5 scaling")]
    out = []
    for small, big in zip(scale, scale[1:]):
        jobs = [int(r["size"].split(" jobs")[0].replace(",", "")) for r in (small, big)]
        factor = jobs[1] / jobs[0]
        growth = big["ours"]["wall_s"] / small["ours"]["wall_s"]
        out.append(
            {
                "scenario": "5 scaling: time growth",
                "note": f"{jobs[0]:,} -> {jobs[1]:,} jobs (x{factor:.0f}): time x{growth:.2f} (limit x{factor * 1.1:.1f}),"
                f" RSS {small['ours']['peak_rss_mib']} -> {big['ours']['peak_rss_mib']} MiB",
                "met": growth <= factor * 1.1,
            }
        )
    return out


def markdown(result: dict) -> str:
    lines = [
        f"Bench {result['date']}{' (quick)' if result['quick'] else ''}: "
        f"{result['machine']['cpus']} CPUs, Python {result['machine']['python']}{_load(result['machine'])}.",
        "",
        "| scenario | size | ours (s) | limit (s) | ratio | target | peak RSS (MiB) | met | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "ours" not in r:
            lines.append(f"| {r['scenario']} | | | | | | | {'yes' if r['met'] else 'NO'} | {r.get('note', '')} |")
            continue
        notes = ", ".join(
            f"{k}={r[k]}"
            for k in (
                "requests",
                "p50_ms",
                "p99_ms",
                "receiver_peak_rss_mib",
                "under_60s",
                "runs",
                "s_per_run",
                "tree_pss_mib",
                "runs_succeeded",
                "data_s",
                "start_lag_s",
                "daemon_cpu_s",
                "p95_ms",
                "queries",
            )
            if k in r
        )
        rss_target = f" (<= {r['rss_target_mib']})" if r.get("rss_target_mib") else ""
        rss = "" if r["ours"]["peak_rss_mib"] is None else f"{r['ours']['peak_rss_mib']}{rss_target}"
        lines.append(
            f"| {r['scenario']} | {r['size']} | {r['ours']['wall_s']} | {r['limit']['wall_s']} "
            f"({r['limit']['label']}) | {r['ratio']}x | <= {r['target_ratio']}x | {rss} "
            f"| {'yes' if r['met'] else 'NO'} | {notes} |"
        )
    return "\n".join(lines) + "\n"
