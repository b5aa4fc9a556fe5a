"""Protects ``python -m slurm_assets import`` (issue 15 item 3): sacct logs with a header, headerless with
``--fields`` (any case, gzip) and years of nightly kept logs become drops that ``process`` turns into the
reference numbers; importing again stores nothing new; days before ``SLURM_USAGE_FIRST_DAY`` and unreadable
files are refused with errors naming the setting or the file, the other files still imported; the seed
system's stored Parquet imports with its own totals."""

import datetime as dt
import gzip

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from slurm_assets.__main__ import main
from slurm_assets.sacct.parse import parse_sacct_text
from slurm_assets.storage import landing, warehouse
from slurm_assets_tests.defs.history import HEADER, Job, at, land, render_window
from slurm_assets_tests.receiver.test_seed_json_exact import seed_agent_jobs
from slurm_assets_tests.sacct.builders import FIXTURES

CAPTURE = (FIXTURES / "sacct_22.05_alpha.psv").read_bytes()  # real 22.05 testbed capture, one day


@pytest.fixture(autouse=True)
def no_dagster_home(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("SLURM_USAGE_FIRST_DAY", "2015-01-01")


def totals(data_dir) -> tuple:
    con = warehouse.connect_readonly(data_dir)
    return con.execute(
        "SELECT count(*), round(sum(cpu_hours), 6), round(sum(gpu_hours), 6), "
        "count(DISTINCT (job_id_raw, submit_time)) FROM jobs"
    ).fetchone()


def reference(text: bytes) -> tuple:
    jobs = parse_sacct_text(text, cluster="alpha", drop_id="r", day="2026-11-25").jobs
    return (
        len(jobs),
        round(pc.sum(jobs["cpu_hours"]).as_py(), 6),
        round(pc.sum(jobs["gpu_hours"]).as_py(), 6),
        len(jobs),
    )


def test_with_header_then_again_is_idempotent(tmp_path, capsys):
    log = tmp_path / "sacct.psv"
    log.write_bytes(CAPTURE)
    data = tmp_path / "data"
    assert main(["import", "--data-dir", str(data), "--cluster", "alpha", str(log)]) == 0
    out = capsys.readouterr().out
    assert "1 days" in out and "1 new drops" in out and "next: python -m slurm_assets process" in out
    (ref,) = landing.list_drops(data)
    assert ref.manifest()["source"] == "import" and ref.day == "2026-11-25"
    assert main(["import", "--data-dir", str(data), "--cluster", "alpha", str(log)]) == 0
    assert "0 new drops, 1 already there" in capsys.readouterr().out
    assert main(["process", "--data-dir", str(data)]) == 0
    assert totals(data) == reference(CAPTURE)


def test_headerless_gzip_with_fields_in_any_case(tmp_path, capsys):
    header, body = CAPTURE.split(b"\n", 1)
    log = tmp_path / "sacct.log.gz"
    log.write_bytes(gzip.compress(body))
    data = tmp_path / "data"
    fields = header.decode().lower().replace("|", ",")
    assert main(["import", "--data-dir", str(data), "--cluster", "alpha", "--fields", fields, str(log)]) == 0
    assert main(["process", "--data-dir", str(data)]) == 0
    assert totals(data) == reference(CAPTURE)
    # without --fields the first data line is no header: refused naming the option
    assert main(["import", "--data-dir", str(tmp_path / "d2"), "--cluster", "alpha", str(log)]) == 2
    assert "--fields" in capsys.readouterr().err


def nightly_logs(jobs: list[Job], first: dt.date, last: dt.date) -> bytes:
    """Years of ``sacct --parsable2 --noheader --duplicates -S d -E d+1`` appended nightly at 00:30."""
    out = []
    day = first
    while day <= last:
        text = render_window(
            jobs, day.isoformat(), dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 30), dt.UTC)
        )
        out.append(text.split(b"\n", 1)[1])
        day += dt.timedelta(days=1)
    return b"".join(out)


OLD_JOBS = [
    Job(
        1,
        "alice",
        "physics",
        "cpu",
        at("2016-03-01T08:00:00"),
        at("2016-03-01T09:00:00"),
        at("2016-03-01T11:00:00"),
        cpus=4,
    ),
    Job(
        2,
        "bob",
        "chem",
        "gpu",
        at("2016-03-01T21:00:00"),
        at("2016-03-01T22:00:00"),
        at("2016-03-04T02:00:00"),
        cpus=8,
        gpus=2,
    ),  # runs four days: RUNNING in three nightly logs
    Job(
        3,
        "carol",
        "bio",
        "cpu",
        at("2017-01-01T10:00:00"),
        at("2017-01-01T10:30:00"),
        at("2017-01-01T12:30:00"),
        cpus=2,
        state="FAILED",
    ),
]


def test_years_of_nightly_logs_give_the_agents_numbers(tmp_path, capsys):
    log = tmp_path / "accounting.log"
    log.write_bytes(nightly_logs(OLD_JOBS, dt.date(2016, 3, 1), dt.date(2017, 1, 2)))
    data = tmp_path / "data"
    assert (
        main(["import", "--data-dir", str(data), "--cluster", "alpha", "--fields", HEADER.replace("|", ","), str(log)])
        == 0
    )
    out = capsys.readouterr().out
    assert "6 superseded" in out and "0 lines will be quarantined" in out  # job 2: 3 RUNNING rows + steps
    assert main(["process", "--data-dir", str(data)]) == 0
    want = (3, round(sum(j.cpu_hours for j in OLD_JOBS), 6), round(sum(j.gpu_hours for j in OLD_JOBS), 6), 3)
    assert totals(data) == want
    # the agent's daily drops of the same days give the same numbers
    agent = tmp_path / "agent"
    for day in ("2016-03-01", "2016-03-02", "2016-03-03", "2016-03-04", "2017-01-01"):
        land(agent, "alpha", day, render_window(OLD_JOBS, day, at("2017-01-03T00:00:00")), at("2017-01-03T00:00:00"))
    assert main(["process", "--data-dir", str(agent)]) == 0
    assert totals(agent) == want


def test_days_before_the_first_day_are_refused_naming_the_setting(tmp_path, monkeypatch, capsys):
    old, new = tmp_path / "old.log", tmp_path / "new.psv"
    old.write_bytes(nightly_logs(OLD_JOBS, dt.date(2016, 3, 1), dt.date(2016, 3, 2)))
    new.write_bytes(CAPTURE)
    monkeypatch.setenv("SLURM_USAGE_FIRST_DAY", "2020-01-01")
    data = tmp_path / "data"
    args = ["import", "--data-dir", str(data), "--cluster", "alpha", "--fields", HEADER.replace("|", ",")]
    assert main([*args, str(old)]) == 2
    err = capsys.readouterr().err
    assert "SLURM_USAGE_FIRST_DAY=2020-01-01" in err and "2016-03-01" in err and str(old) in err
    assert landing.list_drops(data) == []  # nothing of the refused file


def test_unreadable_files_are_named_and_the_others_imported(tmp_path, capsys):
    good = tmp_path / "good.psv"
    good.write_bytes(CAPTURE)
    broken_gzip = tmp_path / "broken.gz"
    broken_gzip.write_bytes(gzip.compress(CAPTURE)[:200])
    binary = tmp_path / "image.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    data = tmp_path / "data"
    argv = [
        "import",
        "--data-dir",
        str(data),
        "--cluster",
        "alpha",
        str(tmp_path / "missing.psv"),
        str(broken_gzip),
        str(binary),
        str(good),
    ]
    assert main(argv) == 2
    err = capsys.readouterr()
    for name in ("missing.psv", "broken.gz: not a readable gzip", "image.bin: binary data"):
        assert name in err.err
    assert "4 file(s), 3 refused" in err.out
    assert [r.day for r in landing.list_drops(data)] == ["2026-11-25"]


def seed_parquet(path, jobs: list[dict]) -> None:
    """The seed backend's jobs_<year>.parquet: its agent's JSON, times parsed, CPUs/GPUs/Nodes renamed."""
    table = pa.Table.from_pylist(jobs)
    cols = {}
    for name in table.column_names:
        col = table[name]
        if name in ("Submit", "Start", "End"):
            col = pc.strptime(
                pc.replace_substring(col, " ", "T"), "%Y-%m-%dT%H:%M:%S", "ns", error_is_null=True
            )  # pandas: NaT
        cols[{"AllocCPUS": "CPUs", "AllocGPUS": "GPUs", "AllocNodes": "Nodes"}.get(name, name)] = col
    cols["SubmitYear"] = pc.year(cols["Submit"])
    pq.write_table(pa.table(cols), path)


def test_seed_parquet_imports_with_equal_totals(tmp_path, capsys):
    jobs = seed_agent_jobs(CAPTURE, steps=False)
    path = tmp_path / "jobs_2026.parquet"
    seed_parquet(path, jobs)
    data = tmp_path / "data"
    assert main(["import", "--data-dir", str(data), "--cluster", "alpha", str(path)]) == 0
    assert "parquet" in capsys.readouterr().out
    assert {r.manifest()["source"] for r in landing.list_drops(data)} == {"seed"}
    assert main(["process", "--data-dir", str(data)]) == 0
    count, cpu, gpu, _ = totals(data)
    assert (count, cpu, gpu) == (
        len(jobs),
        round(sum(j["CPUHours"] for j in jobs), 6),
        round(sum(j["GPUHours"] for j in jobs), 6),
    )
    assert (count, cpu, gpu) == reference(CAPTURE)[:3]
