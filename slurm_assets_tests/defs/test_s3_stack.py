"""Issue 16's first Done-when, every part real: a throwaway PostgreSQL as the Dagster instance storage
(deploy/dagster.production.yaml as is) and moto as S3. The receiver (HTTP, a subprocess) lands pushed drops in
``s3://``; ``python -m slurm_assets process --data-dir s3://...`` materializes them; the ``jobs`` Parquet there
holds exactly the finished jobs; the runs are recorded in PostgreSQL; and every dashboard page renders from
``s3://`` with the figures DuckDB computes over the same Parquet objects."""

import gzip
import subprocess
import sys

import httpx

from slurm_assets_tests.defs.conftest import COLLECTED, HISTORY
from slurm_assets_tests.defs.history import manifest_for, render_window
from slurm_assets_tests.defs.production import ROOT, production_home
from slurm_assets_tests.drops import drop_body
from slurm_assets_tests.receiver.conftest import native_headers, run_receiver
from slurm_assets_tests.streamlit_app.conftest import open_app  # noqa: F401 - the fixture
from slurm_assets_tests.streamlit_app.helpers import metrics
from slurm_assets_tests.streamlit_app.s3_warehouse import S3Warehouse
from slurm_assets_tests.streamlit_app.views.test_empty import PAGES
from slurm_assets_tests.streamlit_app.views.test_pipeline_warehouse import roundings

DAYS = ("2024-05-01", "2024-05-02")
FINISHED = {(cluster, job.job_id) for cluster, jobs in HISTORY.items() for job in jobs if job.end <= COLLECTED}


def push_history(url: str) -> int:
    """Push one drop per cluster and day as the agent does (native body, X-API-Key); return how many."""
    pushed = 0
    with httpx.Client(timeout=60) as client:
        for cluster, jobs in HISTORY.items():
            for day in DAYS:
                text = render_window(jobs, day, COLLECTED)
                gz = gzip.compress(text, mtime=0)
                manifest = manifest_for(cluster, day, text, gz, COLLECTED, source="push")
                answer = client.post(
                    f"{url}/api/data/ingest", content=drop_body(manifest, gz), headers=native_headers()
                )
                assert answer.status_code == 200, answer.text
                pushed += 1
    return pushed


def test_receiver_process_and_dashboard_on_s3_with_postgres(s3_bucket, postgres_server, tmp_path, open_app):  # noqa: F811
    with run_receiver(tmp_path, "--data-dir", s3_bucket.url, env=s3_bucket.env()) as receiver:
        assert push_history(receiver.url) == 4
    manifests = [k for k in s3_bucket.keys("landing/") if k.endswith(".manifest.json")]
    assert len(manifests) == 4 and not (tmp_path / "data").exists()  # in the bucket, not on local disk

    env = production_home(postgres_server, tmp_path / "dagster_home", "s3_stack")
    env |= s3_bucket.env() | {"SLURM_USAGE_LOCAL_DIR": str(tmp_path / "local")}
    proc = subprocess.run(
        [sys.executable, "-m", "slurm_assets", "process", "--data-dir", s3_bucket.url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not list((tmp_path / "dagster_home").rglob("*.db")), "the runs must go to PostgreSQL, not SQLite"
    db = env["DAGSTER_PG_DB"]
    runs = postgres_server.psql("SELECT pipeline_name, status FROM runs ORDER BY create_timestamp", db=db).split()
    assert runs == ["daily_tables_job|SUCCESS", "warehouse_job|SUCCESS"], runs
    jobs_keys = postgres_server.psql(
        "SELECT DISTINCT partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        " AND asset_key = '[\"jobs\"]' ORDER BY 1",
        db=db,
    ).split()
    assert jobs_keys == list(DAYS), jobs_keys

    wh = S3Warehouse(s3_bucket.url, None, None)
    assert {tuple(r) for r in wh.sql("SELECT cluster, job_id_raw FROM jobs").itertuples(index=False)} == FINISHED
    assert wh.sql("SELECT count(*) AS n FROM (SELECT DISTINCT cluster, job_id_raw, submit_time FROM jobs)").n[0] == len(
        FINISHED
    )  # each once, however many overlapping drops

    at = open_app(wh, "overview", range="all")
    row = wh.sql(
        "SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT sum(cpu_hours) FROM usage_daily) AS cpu,"
        " (SELECT sum(gpu_hours) FROM usage_daily) AS gpu"
    ).iloc[0]
    shown = metrics(at)
    assert shown["Jobs"] == f"{row.jobs:,.0f}" == f"{len(FINISHED)}"
    assert shown["CPU-hours"] in roundings(row.cpu) and shown["GPU-hours"] in roundings(row.gpu)
    for page in [*PAGES, "reports"]:
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        assert at.dataframe or at.metric or at.info, page
