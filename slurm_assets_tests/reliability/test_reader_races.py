"""Protects issue 8 "Concurrency: the dashboard querying while the pipeline writes": a new ``running_jobs``
snapshot (a newer day's drop) used to be written to a new day folder and the old file deleted, and a DuckDB
query that listed the files (glob) just before could not open it ("Cannot open file ... No such file"). The
snapshot now has one path per cluster, replaced with os.replace, like a re-written day partition: a reader
always opens a whole file.
"""

import datetime as dt
import threading
import time


from slurm_assets.pipeline.snapshot import write_running_jobs
from slurm_assets.sacct.catalog import TABLE_SCHEMAS
from slurm_assets.storage import warehouse

MOVES, PAUSE_S = 30, 0.3


def test_moving_the_running_jobs_snapshot_never_breaks_a_reader(tmp_path, figures):
    empty = TABLE_SCHEMAS["running_jobs"].empty_table()
    jobs_rows = TABLE_SCHEMAS["jobs"].empty_table()
    write_running_jobs(tmp_path, {"alpha": ("2024-05-01", empty)})
    warehouse.write_partition(tmp_path, "jobs", "alpha", "2024-05-01", jobs_rows)
    stop = threading.Event()

    def pipeline():
        # One snapshot move (a newer day's drop) and one day partition replaced per "run".
        for i in range(1, MOVES + 1):
            day = (dt.date(2024, 5, 1) + dt.timedelta(days=i)).isoformat()  # snapshots only move forward
            write_running_jobs(tmp_path, {"alpha": (day, empty)})
            warehouse.write_partition(tmp_path, "jobs", "alpha", "2024-05-01", jobs_rows)
            time.sleep(PAUSE_S)
        stop.set()

    errors, queries = [], 0
    writer = threading.Thread(target=pipeline)
    writer.start()
    while not stop.is_set():
        try:
            con = warehouse.connect_readonly(tmp_path)
            try:
                con.execute("SELECT count(*) FROM running_jobs").fetchall()
                con.execute("SELECT count(*) FROM jobs").fetchall()
            finally:
                con.close()
        except Exception as err:  # noqa: BLE001 - every reader error is the finding
            errors.append(str(err).replace(str(tmp_path) + "/", "")[:160])
        queries += 2
    writer.join()
    files = sorted(p.parent.name for p in (tmp_path / "warehouse" / "running_jobs").rglob("*.parquet"))
    figures.record(
        "Concurrency: dashboard queries while running_jobs snapshots move to a new day",
        f"{MOVES} snapshot moves and partition replacements, {PAUSE_S} s apart; {queries} queries",
        f"{len(errors)} reader errors"
        + (f" ({errors[0]})" if errors else "")
        + f"; running_jobs files kept: {len(files)}",
        lost=None,
        duplicates=None,
    )
    assert files == ["latest"]  # one snapshot file per cluster, at a path that never moves
    assert errors == []
