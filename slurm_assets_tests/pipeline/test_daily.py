"""Protects the per-day pipeline semantics (DESIGN.md "Tables": every finished job exactly once).

Property: any set of overlapping collections of the same history (early ones that see jobs still running,
re-collections, duplicates), delivered in any order and processed after any subset of deliveries, yields
the same ``jobs``/``usage_daily`` files as processing only the final collections once; and usage summed
over days equals the jobs' totals. Plus: an unreadable or tampered drop is quarantined, never skipped.
"""

import datetime as dt
import gzip

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slurm_assets.pipeline import day_step, usage_step
from slurm_assets.storage import landing, paths, warehouse
from slurm_assets_tests.defs.history import Job, at, land, render_window

DAYS = ["2024-05-01", "2024-05-02", "2024-05-03"]
T0 = at("2024-05-01T00:00:00")
LAST_END = at("2024-05-03T23:30:00")  # every job ends within DAYS...
FINAL = at("2024-05-05T00:00:00")  # ...and has ended when the final collections run


@st.composite
def histories(draw):
    jobs = {}
    for cluster in draw(st.lists(st.sampled_from(["alpha", "beta"]), min_size=1, max_size=2, unique=True)):
        n = draw(st.integers(1, 5))
        cluster_jobs = []
        for i in range(n):
            start_h = draw(st.integers(0, len(DAYS) * 24 - 1))  # whole hours: midnight boundaries are common
            hours = draw(st.integers(0, 60))
            start = T0 + dt.timedelta(hours=start_h)
            end = max(start, min(start + dt.timedelta(hours=hours, minutes=draw(st.sampled_from([0, 30]))), LAST_END))
            cluster_jobs.append(
                Job(
                    100 + i,
                    draw(st.sampled_from(["ann", "bo"])),
                    "acct",
                    "cpu",
                    start - dt.timedelta(minutes=5),
                    start,
                    end,
                    cpus=draw(st.integers(1, 8)),
                    gpus=draw(st.integers(0, 2)),
                    state=draw(st.sampled_from(["COMPLETED", "FAILED", "TIMEOUT"])),
                )
            )
        jobs[cluster] = cluster_jobs
    return jobs


def collections(history, early: list[tuple[int, int, int]]):
    """Final collections of every cluster x day, plus early ones (cluster idx, day idx, hours after day start)."""
    clusters = sorted(history)
    found = [(c, d, FINAL) for c in clusters for d in DAYS]
    for ci, di, hours in early:
        day = DAYS[di]
        found.append((clusters[ci % len(clusters)], day, at(day + "T00:00:00") + dt.timedelta(hours=hours)))
    return found


def process_day(data_dir, day):
    """One day through the day step on its own: ``{cluster: {table: rows}}``."""
    return dict(day_step.process_days(data_dir, [day]))[day]


def process_all(data_dir, days):
    for day in sorted(days):
        process_day(data_dir, day)
        list(usage_step.process_usage_days(data_dir, [day]))


def snapshot(data_dir):
    return {
        p.relative_to(data_dir).as_posix(): p.read_bytes()
        for table in ("jobs", "usage_daily", "gpu_usage_daily")
        for p in sorted((data_dir / "warehouse" / table).glob("*/*/*.parquet"))
    }


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=histories(),
    early=st.lists(st.tuples(st.integers(0, 1), st.integers(0, len(DAYS) - 1), st.integers(0, 60)), max_size=4),
    order=st.randoms(use_true_random=False),
    data=st.data(),
)
def test_any_delivery_order_gives_the_same_tables(tmp_path_factory, history, early, order, data):
    reference = tmp_path_factory.mktemp("ref")
    for cluster, day, now in collections(history, []):
        land(reference, cluster, day, render_window(history[cluster], day, now), now)
    process_all(reference, DAYS)

    delivered = tmp_path_factory.mktemp("delivered")
    events = collections(history, early)
    events += data.draw(st.lists(st.sampled_from(events), max_size=4))  # some drops arrive twice
    order.shuffle(events)
    for cluster, day, now in events:
        land(delivered, cluster, day, render_window(history[cluster], day, now), now)
        if order.random() < 0.3:  # the sensor ran in between
            process_all(delivered, [day])
    process_all(delivered, DAYS)
    assert snapshot(delivered) == snapshot(reference)

    jobs = [j for cluster_jobs in history.values() for j in cluster_jobs]
    got_jobs = [r for c in history for d in DAYS for r in warehouse.read_partition(delivered, "jobs", c, d).to_pylist()]
    assert sorted((r["cluster"], r["job_id_raw"]) for r in got_jobs) == sorted(
        (c, j.job_id) for c, cj in history.items() for j in cj
    )
    usage = [
        r for c in history for d in DAYS for r in warehouse.read_partition(delivered, "usage_daily", c, d).to_pylist()
    ]
    assert abs(sum(u["cpu_hours"] for u in usage) - sum(j.cpu_hours for j in jobs)) < 1e-6
    assert abs(sum(u["gpu_hours"] for u in usage) - sum(j.gpu_hours for j in jobs)) < 1e-6
    assert abs(sum(r["cpu_hours"] for r in got_jobs) - sum(j.cpu_hours for j in jobs)) < 1e-6
    assert sum(u["jobs_ended"] for u in usage) == len(jobs)


def test_unreadable_and_tampered_drops_are_quarantined(tmp_path):
    history = [Job(1, "ann", "a", "cpu", T0, T0, T0 + dt.timedelta(hours=1), cpus=1)]
    good = land(tmp_path, "alpha", "2024-05-01", render_window(history, "2024-05-01", FINAL), FINAL)
    early = at("2024-05-01T00:30:00")  # the job is still running: another text, another drop
    broken = land(tmp_path, "alpha", "2024-05-01", render_window(history, "2024-05-01", early), early)
    refs = {r.drop_id: r for r in landing.list_drops(tmp_path)}
    refs[broken].data_path.write_bytes(gzip.compress(b"JobIDRaw|State\n", mtime=0))  # tampered after landing
    built = process_day(tmp_path, "2024-05-01")["alpha"]
    assert built["jobs"].column("job_id_raw").to_pylist() == [1]  # from the good drop
    quarantine = built["quarantine"].to_pylist()
    assert [(q["drop_id"], q["reason"], q["line_no"]) for q in quarantine] == [(broken, "sha256_mismatch", 0)]
    refs[broken].data_path.write_bytes(b"not gzip")
    quarantine = process_day(tmp_path, "2024-05-01")["alpha"]["quarantine"].to_pylist()
    assert quarantine[0]["reason"] == "unreadable_drop" and good != broken
    assert pq.read_table(paths.partition_file(tmp_path, "quarantine", "alpha", "2024-05-01")).num_rows == 1
