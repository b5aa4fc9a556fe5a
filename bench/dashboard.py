"""Scenario 4: every query behind every dashboard page, timed in a subprocess, beside a bare grouped query.

The warehouse (quick: ~200k jobs, full: 10M jobs, 3 clusters) is written directly,
not through agent + Dagster (that would cost hours for 10M jobs on 2 cores): for
each cluster, TEMPLATE_DAYS days of the project's generator text are parsed by
the real parser (``parse_sacct_texts``, jobs kept on their end day as the
pipeline does), then every day of the range takes the jobs of one template day
with all times shifted by whole days. ``usage_daily``/``gpu_usage_daily`` come
from the real ``apportion_usage_groups``, ``job_summary`` from the real
``job_summary_groups`` (as the pipeline's ``daily_tables``), ``capacity_daily`` from the agent's
inventory of the stand-in ``scontrol`` and the real ``capacity_from_inventory``,
``drops`` has one row per cluster-day. Job ids repeat across template copies
(the key, which includes Submit, stays unique).

The probe (``python -m bench.dashboard probe DATA OUT REPS``) imports
``streamlit_app.data`` and calls, per page, the same data functions with the
same defaults as ``streamlit_app/views/*.py``, for three filters (all clusters
over 1 year, the busiest account over 90 days, the busiest user over 30 days),
clearing the query cache before every page (the connection, built once per data
version as in the app, is timed separately as "first load").

The first load is the app's first page (sidebar + Overview, ``first_page``): on a cold start (no local copy
yet) it reads views over the monthly compacts while the copy is made behind it; the probe then waits for the
copy and times the pages on it.
"""

import datetime as dt
import json
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench import workload as wl
from bench.harness import Measurement, measure
from bench.scenarios import PY, _row
from slurm_assets.storage import compact

TEMPLATE_DAYS = 14
CLUSTERS = ("alpha", "beta", "gamma")
P50_TARGET_S, P95_TARGET_S, RSS_TARGET_MIB = 0.3, 1.0, 1024
# A first page after a start, at most (p95 + 1 s of imports and the copy).
FIRST_LOAD_MARK_S = 2.0
# Issue 17: a cold first start (no local copy yet: imports + the first page) at most.
COLD_START_TARGET_S = 5.0
# Repetitions stop once the probe has run this long (the 10M-job pages may take seconds each).
PROBE_BUDGET_S = 240
TS_COLUMNS = ("submit_time", "eligible_time", "start_time", "end_time")


def sizes(quick: bool) -> tuple[str, int, int]:
    """(name, total jobs, days) of the dashboard warehouse."""
    return ("dash-quick", 200_000, 365) if quick else ("dash-10m", 10_000_000, 3 * 365)


def build_warehouse(name: str, jobs_total: int, days: int, cache: Path, end: str = "2026-01-01") -> Path:
    """Write (once) ``cache/<name>/data/warehouse``; return the data dir."""
    from slurm_assets.sacct import summary, usage
    from slurm_assets.sacct.catalog import TABLE_SCHEMAS
    from slurm_assets.storage import paths

    data_dir = cache / name / "data"
    marker = cache / name / "warehouse.json"
    spec = {"jobs_total": jobs_total, "days": days, "clusters": CLUSTERS, "end": end, "template_days": TEMPLATE_DAYS}
    if marker.exists() and {
        k: v for k, v in json.loads(marker.read_text()).items() if k != "jobs_written"
    } == json.loads(json.dumps(spec)):
        add_job_summary(data_dir)  # a warehouse cached before job_summary existed
        return data_dir
    # the generator keeps ~90% of its jobs_per_day as jobs that end on the day (others run on or stay queued)
    per_day = max(1, round(1.1 * jobs_total / (len(CLUSTERS) * days)))
    work = wl.Workload(name, CLUSTERS, per_day * 365, days, end=end)
    fields = wl.agent_fields()
    agent = wl.load_agent()
    all_days = work.day_list
    written = 0
    pool, writes = ThreadPoolExecutor(4), []
    for ci, cluster in enumerate(CLUSTERS):
        cfg = wl.generate.DemoConfig(
            cluster=cluster, now=work.config(cluster).now, seed=work.seed + ci, jobs_per_day=per_day
        )
        templates = all_days[-TEMPLATE_DAYS:]
        template_jobs, cap = _cluster_templates(cfg, templates, fields, agent)
        batch: list[tuple[str, pa.Table]] = []
        for i, day in enumerate(all_days):
            k = (i - len(all_days)) % len(templates)  # the last days are the templates themselves
            jobs = _shift(template_jobs[k], (day - templates[k]).days)
            batch.append((day.isoformat(), jobs))
            written += len(jobs)
            same_cap = cap.set_column(
                cap.schema.get_field_index("date"), "date", pa.array([day] * len(cap), pa.date32())
            )
            writes += [
                pool.submit(
                    _write, paths.partition_file(data_dir, table, cluster, day.isoformat()), rows, TABLE_SCHEMAS[table]
                )
                for table, rows in (
                    ("jobs", jobs),
                    ("capacity_daily", same_cap),
                    ("drops", _drop_row(cluster, day, len(jobs))),
                )
            ]
            if sum(len(t) for _, t in batch) >= 500_000 or i == len(all_days) - 1:
                batch_tables = [t for _, t in batch]
                for (d, _), (u, g), js in zip(
                    batch,
                    usage.apportion_usage_groups(batch_tables),
                    summary.job_summary_groups(batch_tables),
                    strict=True,
                ):
                    writes += [
                        pool.submit(
                            _write, paths.partition_file(data_dir, table, cluster, d), rows, TABLE_SCHEMAS[table]
                        )
                        for table, rows in (("usage_daily", u), ("gpu_usage_daily", g), ("job_summary", js))
                    ]
                batch = []
                for done in writes:
                    done.result()
                writes = []
    pool.shutdown()
    marker.write_text(json.dumps({**spec, "jobs_written": written}))
    return data_dir


def _cluster_templates(cfg, templates: list[dt.date], fields, agent) -> tuple[list[pa.Table], pa.Table]:
    """One cluster's template days parsed (jobs ending on each day) and its capacity rows.

    Generating and parsing only ``TEMPLATE_DAYS`` days and shifting them is what makes a
    multi-year warehouse affordable to build.
    """
    from slurm_assets.sacct import capacity, parse
    from slurm_assets.sacct.catalog import TABLE_SCHEMAS

    cluster = cfg.cluster
    texts = []
    for day in templates:
        start = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
        buf = _Buffer()
        wl.generate.write_sacct(buf, [cfg], start, start + wl.DAY, fields, duplicates=True)
        texts.append((buf.data(), cluster, f"bench-{day}", day.isoformat()))
    template_jobs = []
    for day, p in zip(templates, parse.parse_sacct_texts(texts), strict=True):
        jobs = p.jobs.filter(pc.equal(p.jobs["end_date"], pa.scalar(day, pa.date32())))
        template_jobs.append(jobs.select(TABLE_SCHEMAS["jobs"].names).cast(TABLE_SCHEMAS["jobs"]))
    nodes = "\n".join(wl.fake_scontrol.node_lines(cluster))
    inventory = agent.parse_node_inventory(nodes, dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    return template_jobs, capacity.capacity_from_inventory(inventory, cluster, templates[-1].isoformat())


def add_job_summary(data_dir: Path, batch_files: int = 200) -> int:
    """Write the ``job_summary`` file of every jobs file that has none (as ``daily_tables`` does); return how many."""
    from slurm_assets.sacct import summary
    from slurm_assets.sacct.catalog import TABLE_SCHEMAS
    from slurm_assets.storage import paths

    jobs_dir = paths.table_dir(data_dir, "jobs")
    missing = [
        p
        for p in paths.partition_files(data_dir, "jobs")
        if not (paths.table_dir(data_dir, "job_summary") / p.relative_to(jobs_dir)).exists()
    ]
    for i in range(0, len(missing), batch_files):
        part = missing[i : i + batch_files]
        tables = [pq.read_table(p, schema=TABLE_SCHEMAS["jobs"]) for p in part]
        for p, rows in zip(part, summary.job_summary_groups(tables), strict=True):
            _write(
                paths.table_dir(data_dir, "job_summary") / p.relative_to(jobs_dir), rows, TABLE_SCHEMAS["job_summary"]
            )
    return len(missing)


class _Buffer:
    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, b) -> int:
        self.parts.append(bytes(b))
        return len(b)

    def data(self) -> bytes:
        return b"".join(self.parts)


def _shift(jobs: pa.Table, days: int) -> pa.Table:
    """The same jobs ``days`` later (every time and the end day shifted)."""
    if days == 0:
        return jobs
    delta = pa.scalar(days * 86400 * 10**6, pa.int64())
    for col in TS_COLUMNS:
        i = jobs.schema.get_field_index(col)
        typ = jobs.schema.field(col).type
        shifted = pc.add(jobs[col].cast(pa.int64()), delta).cast(typ)
        jobs = jobs.set_column(i, col, shifted)
    i = jobs.schema.get_field_index("end_date")
    end = pc.add(jobs["end_date"].cast(pa.int32()), pa.scalar(days, pa.int32())).cast(pa.date32())
    return jobs.set_column(i, "end_date", end)


def _drop_row(cluster: str, day: dt.date, rows: int) -> pa.Table:
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    return pa.Table.from_pylist(
        [
            {
                "cluster": cluster,
                "date": day,
                "drop_id": f"bench-{day}",
                "sha256": "0" * 64,
                "source": "bench",
                "window_start": start,
                "window_end": start + dt.timedelta(days=1),
                "collected_at": start + dt.timedelta(days=1, minutes=5),
                "rows": rows,
                "sacct_version": "slurm 23.02.7",
                "agent_version": "bench",
            }
        ]
    )


def _write(path: Path, rows: pa.Table, schema: pa.Schema) -> None:
    """Plain write: the bench warehouse is scratch data (the pipeline's own writes are atomic and fsynced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(rows.select(schema.names).cast(schema), path, compression="zstd")


# --- the probe (runs in its own process) ------------------------------------------------------


def pages(data, f) -> dict:
    """Every page's data calls, with the views' default widget values (streamlit_app/views/*.py)."""
    sort = next(iter(data.SORTS))
    return {
        "sidebar": lambda: (data.date_bounds(data.ADMIN_SCOPE), data.filter_options(data.ADMIN_SCOPE)),
        "overview": lambda: (
            data.kpis(f),
            data.kpis(f.previous()),
            [data.breakdown(f, "usage", m, "cluster", grain=f.grain) for m in ("cpu_hours", "gpu_hours")],
        ),
        "usage": lambda: (
            data.breakdown(f, "usage", "cpu_hours", "user", grain=f.grain, top_n=8),
            data.usage_shares(f, "user"),
        ),
        "explorer": lambda: data.breakdown(
            f, data.explorer_source("cpu_hours", "cluster", f), "cpu_hours", "cluster", grain=f.grain, top_n=10
        ),
        "users_accounts": lambda: [data.top_entities(f, e, "cpu_hours", 25) for e in ("user", "account")],
        "efficiency": lambda: (
            data.efficiency_summary(f),
            [data.efficiency_by(f, e, min_jobs=5, order="wasted_cpu_hours") for e in ("user", "account")],
            data.wasteful_jobs(f),
        ),
        "queue": lambda: (
            data.running_now(f),
            data.wait_stats(f, by_partition=True),
            [
                data.breakdown(f, "jobs", "jobs", d)
                for d in ("wait_time", "job_size", "node_count", "gpu_count", "wall_time")
            ],
            data.state_rates(f),
        ),
        "gpus": lambda: (
            data.gpu_job_share(f),
            data.breakdown(f, "gpu", "gpu_hours", "gpu_type", grain=f.grain),
            data.breakdown(f, "gpu", "gpu_hours", "partition", grain=f.grain),
            data.gpu_by_partition(f),
        ),
        "jobs": lambda: (data.jobs_count(f, ""), data.jobs_page(f, "", page=1, page_size=100, sort=sort)),
        "utilization": lambda: data.utilization(f, "partition"),
        "data_status": lambda: (
            data.cluster_status(f),
            data.gaps(f),
            data.quarantine_summary(f),
            data.quarantine_rows(f),
        ),
    }


def _max_rss_mib() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def first_page(data) -> None:
    """The app's first script run: the sidebar, then the Overview over the default 30 days (ending on the last
    data day: the bench warehouse ends in the past)."""
    last = data.date_bounds(data.ADMIN_SCOPE)[1]
    data.filter_options(data.ADMIN_SCOPE)
    f = data.Filters(start=last - dt.timedelta(days=29), end=last, scope=data.ADMIN_SCOPE)
    pages(data, f)["overview"]()


def probe(data_dir: Path, out: Path, reps: int) -> None:
    import logging
    import os

    import duckdb

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    os.environ["SLURM_USAGE_DATA_DIR"] = str(data_dir)
    began = time.perf_counter()
    from streamlit_app import data
    from streamlit_app.data import core

    imported = time.perf_counter() - began
    began = time.perf_counter()
    first_page(data)  # builds the connection of this data version: the app's first page
    first_load = time.perf_counter() - began
    copier = core._store(str(core.data_dir())).copier
    if copier is not None:  # the copy made behind the first pages: pages are timed on the copy
        copier.join()
    copied = time.perf_counter() - began
    rss_after_load = _max_rss_mib()
    last = data.date_bounds(data.ADMIN_SCOPE)[1]
    top = core.query(
        'SELECT account, "user", sum(cpu_hours) AS h FROM usage_daily GROUP BY ALL ORDER BY h DESC LIMIT 1'
    )
    account, user = top["account"][0], top["user"][0]
    filters = {
        "all clusters / 1 year": data.Filters(start=last - dt.timedelta(days=364), end=last, scope=data.ADMIN_SCOPE),
        f"account {account} / 90 days": data.Filters(
            start=last - dt.timedelta(days=89), end=last, accounts=(account,), scope=data.ADMIN_SCOPE
        ),
        f"user {user} / 30 days": data.Filters(
            start=last - dt.timedelta(days=29), end=last, users=(user,), scope=data.ADMIN_SCOPE
        ),
    }
    times: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    by_filter: dict[str, dict[str, list[float]]] = {}
    started = time.perf_counter()
    for rep in range(reps):
        if rep and time.perf_counter() - started > PROBE_BUDGET_S:
            break  # slow pages: fewer repetitions (each page has at least one sample per filter)
        for label, f in filters.items():
            for page, call in pages(data, f).items():
                core._cached_query.clear()  # every sample runs its SQL (st.cache_data bypassed)
                began = time.perf_counter()
                try:
                    call()
                except Exception as err:  # report, keep timing the other pages
                    errors[page] = f"{type(err).__name__}: {err}"[:300]
                    continue
                took = time.perf_counter() - began
                times.setdefault(page, []).append(took)
                by_filter.setdefault(label, {}).setdefault(page, []).append(took)
    glob = str(Path(data_dir) / "warehouse" / "jobs" / "*" / "*" / "*.parquet")
    bare = []
    for _ in range(max(3, reps)):
        con = duckdb.connect()
        began = time.perf_counter()
        con.execute(f"SELECT cluster, account, sum(cpu_hours) FROM read_parquet('{glob}') GROUP BY ALL").fetchall()
        bare.append(time.perf_counter() - began)
        con.close()
    out.write_text(
        json.dumps(
            {
                "import_s": imported,
                "first_load_s": first_load,
                "copied_s": copied,
                "rss_after_load_mib": rss_after_load,
                "filters": list(filters),
                "pages": times,
                "by_filter": by_filter,
                "errors": errors,
                "bare_s": bare,
            }
        )
    )


# --- scenario ---------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run(quick: bool, cache: Path, scratch: Path) -> list[dict]:
    """Scenario 4 rows: one per page (p50 as "ours", the bare grouped query's p50 as the limit)."""
    name, jobs_total, days = sizes(quick)
    print(
        f"building dashboard warehouse {name} ({jobs_total:,} jobs, {len(CLUSTERS)} clusters x {days} days) ...",
        flush=True,
    )
    data_dir = build_warehouse(name, jobs_total, days, cache)
    began = time.perf_counter()
    compact.compact_all(data_dir)  # what warehouse_job's monthly_compacts does after the pipeline's runs
    compacted_s = time.perf_counter() - began
    jobs_written = json.loads((cache / name / "warehouse.json").read_text())["jobs_written"]
    scratch.mkdir(parents=True, exist_ok=True)
    out = scratch / "probe.json"
    reps = 2 if quick else 3
    # The dashboard's local copy (slurm_assets/storage/local_copy.py) starts empty: the probe's first load is a
    # cold one; a second process then starts as a restarted dashboard would (reps 0: first load only).
    cache_dir = scratch / "dashboard-cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    env = wl.bench_env(scratch, SLURM_USAGE_DASHBOARD_CACHE_DIR=str(cache_dir))
    proc = measure(
        "dashboard probe",
        [PY, "-m", "bench.dashboard", "probe", str(data_dir), str(out), str(reps)],
        env=env,
        cwd=wl.ROOT,
    )
    result = json.loads(out.read_text())
    again_out = scratch / "restart.json"
    again_proc = measure(
        "dashboard restart",
        [PY, "-m", "bench.dashboard", "probe", str(data_dir), str(again_out), "0"],
        env=env,
        cwd=wl.ROOT,
    )
    again = json.loads(again_out.read_text())
    bare = statistics.median(result["bare_s"])
    limit = Measurement("bare grouped CPU-hours on jobs Parquet (p50)", round(bare, 4), 0.0, 0)
    size = f"{jobs_written:,} jobs, {len(CLUSTERS)} clusters x {days} days"
    rows = []
    for page, samples in result["pages"].items():
        p50, p95 = statistics.median(samples), _pct(samples, 0.95)
        ours = Measurement(f"page {page} (p50 of {len(samples)})", round(p50, 4), proc.peak_rss_mib, 0)
        row = _row(
            f"4 dashboard: {page}",
            size,
            ours,
            limit,
            round(P50_TARGET_S / bare, 1),
            {"p50_ms": round(1000 * p50, 1), "p95_ms": round(1000 * p95, 1), "queries": len(samples)},
            rss_target_mib=RSS_TARGET_MIB,
        )
        row["met"] = p50 <= P50_TARGET_S and p95 <= P95_TARGET_S and proc.peak_rss_mib <= RSS_TARGET_MIB
        rows.append(row)
    cold = result["import_s"] + result["first_load_s"]
    rows.append(
        {
            "scenario": "4 dashboard: cold first start (no local copy yet)",
            "met": cold <= COLD_START_TARGET_S,
            "note": f"{cold:.2f} s (target <= {COLD_START_TARGET_S:.0f} s): import {result['import_s']:.2f} s,"
            f" first page (sidebar + Overview, 30 days) {result['first_load_s']:.2f} s from the"
            f" monthly compacts; the copy made behind it in {result['copied_s']:.2f} s (peak RSS then"
            f" {result['rss_after_load_mib']} MiB), probe peak RSS {proc.peak_rss_mib} MiB; compacting the"
            f" warehouse once {compacted_s:.1f} s; filters: {'; '.join(result['filters'])}",
        }
    )
    rows.append(
        {
            "scenario": "4 dashboard: first page after a restart",
            "met": again["import_s"] + again["first_load_s"] <= FIRST_LOAD_MARK_S,
            "note": f"import {again['import_s']:.2f} s, first page from the local copy "
            f"{again['first_load_s']:.2f} s (peak RSS then {again['rss_after_load_mib']} MiB), "
            f"process peak RSS {again_proc.peak_rss_mib} MiB",
        }
    )
    for page, err in result["errors"].items():
        rows.append({"scenario": f"4 dashboard: {page}", "met": False, "note": f"FAILED: {err}"})
    return rows


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "probe":
        probe(Path(argv[1]), Path(argv[2]), int(argv[3]))
        return 0
    print("usage: python -m bench.dashboard probe DATA_DIR OUT.json REPS", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
