"""The agent (agent/slurm-usage-history-exporter.py) without a network: its pure helpers, config
validation, dry-run totals against an independent DuckDB computation over the same sacct text,
drops that round-trip through the landing-zone reader, UTC-day windows, the watermark across
incremental runs and crashes, sacct failures, and streaming (bounded memory) on a big extraction.

sacct and scontrol are stand-ins on PATH (conftest.FAKE_SACCT) serving a crafted capture with
every job state, arrays, a het job, typed/untyped GPUs and gres/gpumem, or a real 22.05 capture.
"""

import datetime as dt
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from slurm_assets.storage import landing
from slurm_assets_tests.agent.conftest import AGENT_DIR, AGENT_FILE, CRAFTED, DATA

REAL_CAPTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sacct_22.05_alpha.psv"
NOW = dt.datetime(2024, 5, 3, 12, 30, 0, tzinfo=dt.UTC)


def independent_totals(text: str) -> dict:
    """Dry-run numbers computed another way: DuckDB SQL over the raw lines, ElapsedRaw for seconds,
    regexes over AllocTRES for GPUs, distinct (JobIDRaw, Submit) for allocations."""
    con = duckdb.connect()
    lines = text.splitlines()
    header = lines[0].split("|")
    con.execute("CREATE TABLE raw (line VARCHAR)")
    con.executemany("INSERT INTO raw VALUES (?)", [(line,) for line in lines[1:] if line])

    def col(name: str) -> str:
        return f"string_split(line, '|')[{header.index(name) + 1}]"

    rows = con.execute(f"""
        WITH alloc AS (
            SELECT DISTINCT {col("JobIDRaw")} AS raw_id, {col("Submit")} AS submit,
                   regexp_replace({col("State")}, ' by .*$', '') AS state,
                   CAST({col("AllocCPUS")} AS BIGINT) AS cpus,
                   CAST({col("ElapsedRaw")} AS BIGINT) AS secs,
                   coalesce(
                       CAST(nullif(regexp_extract({col("AllocTRES")}, '(^|,)gres/gpu=([0-9]+)', 2), '') AS BIGINT),
                       list_sum(list_transform(
                           regexp_extract_all({col("AllocTRES")}, 'gres/gpu:[^=,]+=([0-9]+)', 1),
                           x -> CAST(x AS BIGINT))),
                       0) AS gpus
            FROM raw WHERE NOT contains({col("JobID")}, '.')
        )
        SELECT state, count(*) AS jobs,
               sum(CASE WHEN state = 'PENDING' THEN 0 ELSE cpus * secs END) AS cpu_s,
               sum(CASE WHEN state = 'PENDING' THEN 0 ELSE gpus * secs END) AS gpu_s
        FROM alloc GROUP BY state ORDER BY state
    """).fetchall()
    return {
        "jobs": sum(r[1] for r in rows),
        "cpu_hours": sum(r[2] for r in rows) / 3600,
        "gpu_hours": sum(r[3] for r in rows) / 3600,
        "states": {r[0]: r[1] for r in rows},
    }


def run_main(agent, argv, **kwargs):
    out = io.BytesIO()
    code = agent.main(list(argv), stdout=out, **kwargs)
    return code, out.getvalue()


def fake_text(start: str, end: str, fields=None, source: Path = CRAFTED) -> str:
    """What the fake sacct prints for this window (same code path as the agent's call)."""
    argv = [
        os.environ["PATH"].split(os.pathsep)[0] + "/sacct",
        "--allusers",
        "--duplicates",
        "--parsable2",
        "--format=" + ",".join(fields),
        "-S",
        start,
        "-E",
        end,
    ]
    env = dict(os.environ, FAKE_SACCT_TEXT=str(source), FAKE_SACCT_LOG="")
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout


# ----------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:00", 0),  # pending / never started
        ("01:00:30", 3630),  # HH:MM:SS
        ("1-02:03:04", 93784),  # days
        ("12:34.567", 754),  # MM:SS.mmm (TotalCPU style) truncates
        ("365-00:00:00", 31536000),  # a year-long limit
        ("", 0),  # empty field
        ("INVALID", 0),  # sacct's sentinel
    ],
)
def test_parse_elapsed(agent, text, seconds):
    assert agent.parse_elapsed(text) == seconds


# tres_gpus: slurm_assets_tests/test_gpu_rule.py runs one table of cases against it and sacct/tres.py.


@pytest.mark.parametrize(
    ("state", "normal"),
    [
        ("CANCELLED by 1001", "CANCELLED"),
        ("CANCELLED by 0", "CANCELLED"),
        ("CANCELLED", "CANCELLED"),
        ("COMPLETED", "COMPLETED"),
        ("", "UNKNOWN"),
    ],
)
def test_normalize_state(agent, state, normal):
    assert agent.normalize_state(state) == normal


def test_utc_day_windows_split_at_midnight_and_end_partial(agent):
    utc = dt.UTC
    windows = agent.utc_day_windows(dt.datetime(2024, 2, 28, tzinfo=utc), dt.datetime(2024, 3, 1, 6, tzinfo=utc))
    assert [(agent.format_utc(a), agent.format_utc(b)) for a, b in windows] == [
        ("2024-02-28T00:00:00Z", "2024-02-29T00:00:00Z"),
        ("2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"),  # leap day
        ("2024-03-01T00:00:00Z", "2024-03-01T06:00:00Z"),  # partial last day
    ]


def test_choose_fields_keeps_known_fields_in_order_and_refuses_without_required(agent):
    helpformat = (DATA / "sacct_helpformat_22.05.txt").read_text()
    fields = agent.choose_fields(agent.parse_helpformat(helpformat))
    assert fields[:2] == ["JobID", "JobIDRaw"] and fields[-1] == "JobName"
    assert "ReqGRES" not in fields and "AllocTRES" in fields
    # An older Slurm without AllocTRES cannot give GPU usage: refuse with the field named.
    with pytest.raises(agent.AgentError, match="AllocTRES"):
        agent.choose_fields([f for f in agent.parse_helpformat(helpformat) if f != "AllocTRES"])


def test_sacct_argv_is_explicit(agent):
    utc = dt.UTC
    argv = agent.build_sacct_argv(
        "sacct",
        ["JobID", "State"],
        dt.datetime(2024, 5, 1, tzinfo=utc),
        dt.datetime(2024, 5, 2, tzinfo=utc),
        "alpha",
    )
    assert argv == [
        "sacct",
        "--allusers",
        "--duplicates",
        "--parsable2",
        "--format=JobID,State",
        "-S",
        "2024-05-01T00:00:00",
        "-E",
        "2024-05-02T00:00:00",
        "--clusters",
        "alpha",
    ]


def test_node_inventory_from_real_capture_and_edge_lines(agent):
    text = (DATA / "scontrol_show_node_22.05.txt").read_text() + (
        "NodeName=n2 CPUTot=64 RealMemory=256000 Gres=gpu:4(S:0-1) State=DOWN+DRAIN Partitions=big "
        "Reason=broken fan State=IDLE [root@2024-05-01T00:00:00]\n"
        "NodeName=n3 CPUTot=8 RealMemory=1000 Gres=(null) State=IDLE\n"
    )
    inv = agent.parse_node_inventory(text, dt.datetime(2024, 5, 1, tzinfo=dt.UTC))
    assert inv["collected_at"] == "2024-05-01T00:00:00Z"
    assert inv["nodes"] == [
        {
            "node": "vm",
            "partitions": ["cpu", "gpu", "debug"],
            "cpus": 16,
            "mem_bytes": 16777216000,
            "gpus": {"a100": 2, "v100": 2},
            "state": "MIXED",
        },
        {
            "node": "n2",
            "partitions": ["big"],
            "cpus": 64,
            "mem_bytes": 256000 * 1024 * 1024,
            "gpus": {"": 4},
            "state": "DOWN+DRAIN",
        },  # untyped GPUs: type ""; first State= wins over Reason's
        {
            "node": "n3",
            "partitions": [],
            "cpus": 8,
            "mem_bytes": 1000 * 1024 * 1024,
            "gpus": {},
            "state": "IDLE",
        },
    ]


def test_backoff_grows_with_jitter_and_cap(agent):
    import random

    rng = random.Random(1)
    delays = [agent.backoff_delay(a, 2.0, 30.0, rng) for a in range(1, 7)]
    for attempt, delay in enumerate(delays, 1):
        nominal = min(30.0, 2.0 * 2 ** (attempt - 1))
        assert nominal / 2 <= delay <= nominal
    assert len(set(delays)) == len(delays)  # jittered, not a fixed sequence


# ----------------------------------------------------------------------------------- config


def write_config(tmp_path: Path, **values) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"api_urll": "https://x"}, "unknown key 'api_urll'"),  # typo: named, with the known keys
        ({"timeout": "60"}, "key 'timeout' must be integer or number"),  # wrong type
        (
            {"collection_window_days": True},
            "key 'collection_window_days' must be integer",
        ),  # bool is not an int
        ({"allow_insecure_http": "yes"}, "key 'allow_insecure_http' must be true/false"),
        ({"collection_window_days": -1}, "collection_window_days' must be between 0"),
        ({"cluster_name": "../etc"}, "invalid cluster name"),  # would become a path on the server
        ({"cluster_name": "alpha\n"}, "invalid cluster name"),  # `$` alone would accept a trailing newline
    ],
)
def test_bad_config_is_refused_naming_the_key(agent, tmp_path, capsys, values, message):
    config = write_config(tmp_path, **values)
    assert agent.main(["--config", str(config), "--dry-run"]) == agent.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_example_config_is_valid_and_documented(agent):
    raw = json.loads((AGENT_DIR / "config.json.example").read_text())
    agent.Config.from_dict(raw, "config.json.example")
    readme = (AGENT_DIR / "README.md").read_text()
    for key in agent.CONFIG_KEYS:
        assert f"`{key}`" in readme, f"agent/README.md does not document config key {key}"


def test_missing_config_says_what_to_do(agent, tmp_path, capsys):
    assert agent.main(["--config", str(tmp_path / "nope.json"), "--dry-run"]) == agent.EXIT_USAGE
    assert "--no-config" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "extra", "message"),
    [
        ("http://usage.example.org", {}, "plain http"),  # key would cross the network in clear
        ("ftp://usage.example.org", {}, "must start with https://"),
    ],
)
def test_insecure_urls_are_refused(agent, tmp_path, fake_slurm, capsys, url, extra, message):
    config = write_config(
        tmp_path,
        api_url=url,
        api_key="k",
        spool_dir=str(tmp_path / "spool"),
        state_file=str(tmp_path / "state.json"),
        **extra,
    )
    assert agent.main(["--config", str(config)]) == agent.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert fake_slurm.calls() == []  # refused before any extraction


def test_placeholder_key_is_refused(agent, tmp_path, fake_slurm, capsys):
    config = write_config(
        tmp_path, api_url="https://usage.example.org", api_key="CHANGE-ME", spool_dir=str(tmp_path / "spool")
    )
    assert agent.main(["--config", str(config)]) == agent.EXIT_USAGE
    assert "no API key" in capsys.readouterr().err


def test_group_readable_config_with_key_warns(agent, tmp_path, fake_slurm, capsys):
    config = write_config(tmp_path, api_key="secret-value-1", cluster_name="alpha")
    config.chmod(0o644)
    agent.main(["--config", str(config), "--dry-run", "--start-date", "2024-05-01", "--end-date", "2024-05-01"])
    err = capsys.readouterr().err
    assert f"chmod 600 {config}" in err and "secret-value-1" not in err


# ---------------------------------------------------------------------------------- dry run


def test_dry_run_json_equals_independent_computation_on_crafted_text(agent, fake_slurm):
    code, out = run_main(
        agent,
        ["--no-config", "--dry-run", "--json", "--start-date", "2024-05-01", "--end-date", "2024-05-01"],
        now=lambda: NOW,
    )
    assert code == 0
    summary = json.loads(out)
    fields = next(c for c in fake_slurm.calls() if "-S" in c)
    fields = fields[next(i for i, a in enumerate(fields) if a.startswith("--format="))][len("--format=") :].split(",")
    text = fake_text("2024-05-01T00:00:00", "2024-05-02T00:00:00", fields)
    expected = independent_totals(text)
    assert summary["jobs"] == expected["jobs"]
    assert summary["states"] == expected["states"]
    assert summary["cpu_hours"] == pytest.approx(expected["cpu_hours"], rel=1e-12)
    assert summary["gpu_hours"] == pytest.approx(expected["gpu_hours"], rel=1e-12)
    # The crafted day holds every state once normalized, arrays as separate jobs and a requeued job twice.
    assert set(summary["states"]) == {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PENDING",
        "PREEMPTED",
        "REQUEUED",
        "REVOKED",
        "RUNNING",
        "SUSPENDED",
        "TIMEOUT",
    }
    assert summary["jobs"] == 27 and summary["states"]["COMPLETED"] == 11
    assert (summary["cluster"], summary["start"], summary["end"]) == ("alpha", "2024-05-01", "2024-05-01")
    # GPU-hours by hand: 2x1.0083h (a100 TIMEOUT) + 1x(20 min) untyped + 1x26.05h typed-only running
    # + 1x2h (gpumem ignored) + 3x0.5h (two types, no total).
    assert summary["gpu_hours"] == pytest.approx((2 * 3630 + 1200 + 93784 + 7200 + 3 * 1800) / 3600)


def test_dry_run_on_real_capture_equals_independent_computation(agent, fake_slurm, monkeypatch):
    monkeypatch.setenv("FAKE_SACCT_TEXT", str(REAL_CAPTURE))
    summary = agent.UsageSummary()
    raw = REAL_CAPTURE.read_bytes()
    for i in range(0, len(raw), 777):  # any chunking gives the same totals
        summary.feed(raw[i : i + 777])
    result = summary.close().as_dict()
    expected = independent_totals(raw.decode())
    assert result["jobs"] == expected["jobs"] and result["states"] == expected["states"]
    assert result["cpu_hours"] == pytest.approx(expected["cpu_hours"], rel=1e-12)
    assert result["gpu_hours"] == pytest.approx(expected["gpu_hours"], rel=1e-12)
    assert result["gpu_hours"] > 0 and "CANCELLED" in result["states"] and "REQUEUED" in result["states"]


def test_dry_run_text_has_the_seed_lines(agent, fake_slurm):
    code, out = run_main(
        agent,
        ["--no-config", "--dry-run", "--start-date", "2024-05-01", "--end-date", "2024-05-01"],
        now=lambda: NOW,
    )
    text = out.decode()
    assert code == 0
    for line in ("Cluster: alpha", "Jobs: 27", "Total CPU-hours: ", "Total GPU-hours: ", "  PENDING: 2"):
        assert line in text


def test_newline_in_job_name_is_counted_not_hidden(agent):
    summary = agent.UsageSummary()
    summary.feed(b"JobID|State|AllocCPUS|Elapsed|AllocTRES|JobName\n1|COMPLETED|2|00:01:00|cpu=2|two\nlines\n")
    result = summary.close()
    assert (result.jobs, result.malformed, result.cpu_seconds) == (1, 1, 120)


# ------------------------------------------------------------------------------------ drops


def test_output_dir_drops_round_trip_through_the_landing_reader(agent, fake_slurm, tmp_path):
    out_dir = tmp_path / "drops"
    a_month_later = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    code, _ = run_main(
        agent,
        [
            "--no-config",
            "--output-dir",
            str(out_dir),
            "--start-date",
            "2024-05-01",
            "--end-date",
            "2024-05-02",
        ],
        now=lambda: a_month_later,
    )
    assert code == 0
    manifests = sorted(out_dir.glob("*/*/*.manifest.json"))
    assert [p.parent.relative_to(out_dir).as_posix() for p in manifests] == [
        "alpha/2024-05-01",
        "alpha/2024-05-02",
    ]
    for path in manifests:
        manifest = landing.validate_manifest(json.loads(path.read_text()))
        data = path.with_name(path.name.replace(".manifest.json", ".psv.gz"))
        gz = data.read_bytes()
        text = gzip.decompress(gz)
        assert manifest["gzip_size"] == len(gz)
        digest = landing.digest_gzip_text(io.BytesIO(gz), 1 << 30)
        assert (digest.sha256, digest.rows) == (manifest["sha256"], manifest["rows"])
        assert path.name == f"{manifest['sha256'][:16]}.manifest.json"
        assert gz[4:8] == b"\0\0\0\0"  # gzip mtime 0: same text, same bytes
        assert text.decode().splitlines()[0] == "|".join(manifest["fields"])
        day = manifest["day"]
        assert text.decode() == fake_text(f"{day}T00:00:00", manifest["window_end"][:-1], manifest["fields"])
        assert manifest["source"] == "drop" and manifest["cluster"] == "alpha"
        assert manifest["inventory"] is None  # a backfill of old days gets no (today's) capacity snapshot
        assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left
    # The day layout is the server's landing layout: pointing DATA_DIR/landing at it lists the drops.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "landing").symlink_to(out_dir)
    assert [(r.cluster, r.day) for r in landing.list_drops(tmp_path / "data")] == [
        ("alpha", "2024-05-01"),
        ("alpha", "2024-05-02"),
    ]


def test_stdout_stream_carries_the_same_bytes_as_output_dir(agent, fake_slurm, tmp_path):
    args = ["--no-config", "--start-date", "2024-05-01", "--end-date", "2024-05-02"]
    code, stream = run_main(agent, [*args, "--stdout"], now=lambda: NOW)
    assert code == 0
    drops = list(landing.iter_drop_stream(io.BytesIO(stream)))
    assert [m["day"] for m, _ in drops] == ["2024-05-01", "2024-05-02"]
    run_main(agent, [*args, "--output-dir", str(tmp_path / "d")], now=lambda: NOW)
    for manifest, gz in drops:
        assert manifest["source"] == "ssh"
        on_disk = tmp_path / "d" / "alpha" / manifest["day"] / f"{manifest['sha256'][:16]}.psv.gz"
        assert on_disk.read_bytes() == gz


def test_stdout_mode_runs_from_stdin_under_python38(fake_slurm, tmp_path):
    """The SSH pull command: the agent file piped into `python3 -` with --no-config."""
    py38 = Path("/root/.pyenv/versions/3.8.18/bin/python3.8")
    python = str(py38) if py38.exists() else sys.executable
    proc = subprocess.run(
        [
            python,
            "-",
            "--no-config",
            "--stdout",
            "--cluster",
            "alpha",
            "--start-date",
            "2024-05-01",
            "--end-date",
            "2024-05-01",
        ],
        input=AGENT_FILE.read_bytes(),
        capture_output=True,
        env=fake_slurm.env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    [(manifest, gz)] = list(landing.iter_drop_stream(io.BytesIO(proc.stdout)))
    assert manifest["rows"] == gzip.decompress(gz).count(b"\n") - 1 > 0
    assert "INFO - " in proc.stderr.decode()


def test_zero_jobs_for_a_whole_day_is_a_warning(agent, fake_slurm, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty.psv"
    empty.write_text(CRAFTED.read_text().splitlines()[0] + "\n")
    monkeypatch.setenv("FAKE_SACCT_TEXT", str(empty))
    code, _ = run_main(
        agent,
        [
            "--no-config",
            "--output-dir",
            str(tmp_path / "d"),
            "--start-date",
            "2024-05-01",
            "--end-date",
            "2024-05-02",
        ],
        now=lambda: NOW,
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "WARNING - alpha 2024-05-01: sacct returned 0 jobs for the whole day" in err
    assert "2024-05-02: sacct returned 0 jobs" in err
    # Two empty days have the same text, hence the same id, yet both land (one per day folder).
    assert len(list((tmp_path / "d").glob("alpha/*/*.manifest.json"))) == 2


def test_cluster_name_comes_from_scontrol(agent, fake_slurm, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_CLUSTER", "gamma")
    code, out = run_main(
        agent,
        ["--no-config", "--dry-run", "--json", "--start-date", "2024-05-01", "--end-date", "2024-05-01"],
        now=lambda: NOW,
    )
    assert code == 0 and json.loads(out)["cluster"] == "gamma"
    call = next(c for c in fake_slurm.calls() if "-S" in c)
    assert call[-2:] == ["--clusters", "gamma"]


# ------------------------------------------------------------------------ sacct failures


def test_sacct_failure_is_reported_with_its_stderr(agent, fake_slurm, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("FAKE_SACCT_FAIL", "sacct: error: Problem talking to the database: Connection refused")
    code, _ = run_main(
        agent,
        [
            "--no-config",
            "--output-dir",
            str(tmp_path / "d"),
            "--start-date",
            "2024-05-01",
            "--end-date",
            "2024-05-01",
        ],
        now=lambda: NOW,
    )
    assert code == agent.EXIT_SACCT
    err = capsys.readouterr().err
    assert "Problem talking to the database" in err and "slurmdbd" in err
    assert not list((tmp_path / "d").rglob("*.psv.gz"))  # nothing half-written


def test_sacct_permission_denied_explains_the_fix(agent, fake_slurm, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_SACCT_FAIL", "sacct: error: Access/permission denied")
    code, _ = run_main(agent, ["--no-config", "--dry-run", "--start-date", "2024-05-01"], now=lambda: NOW)
    assert code == agent.EXIT_SACCT
    assert "adminlevel=Operator" in capsys.readouterr().err


def test_missing_sacct_binary(agent, fake_slurm, tmp_path, capsys):
    code, _ = run_main(
        agent,
        ["--no-config", "--dry-run", "--sacct", str(tmp_path / "no-sacct"), "--start-date", "2024-05-01"],
        now=lambda: NOW,
    )
    assert code == agent.EXIT_SACCT
    assert "not found" in capsys.readouterr().err


def test_hanging_sacct_is_killed_after_sacct_timeout(agent, fake_slurm, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("FAKE_SACCT_SLEEP", "120")
    config = write_config(tmp_path, sacct_timeout=1, cluster_name="alpha")
    code, _ = run_main(agent, ["--config", str(config), "--dry-run", "--start-date", "2024-05-01"], now=lambda: NOW)
    assert code == agent.EXIT_SACCT
    assert "timed out after 1 s" in capsys.readouterr().err


def test_sacct_env_and_flag_override_the_path(agent, fake_slurm, monkeypatch, tmp_path):
    marker = tmp_path / "wrapper-calls.txt"
    wrapper = tmp_path / "wrapped-sacct"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {marker}\nexec {fake_slurm.sacct} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("SLURM_USAGE_SACCT", str(wrapper))
    args = ["--no-config", "--dry-run", "--start-date", "2024-05-01"]
    assert run_main(agent, args, now=lambda: NOW)[0] == 0
    assert "--helpformat" in marker.read_text()  # the env var chose the sacct
    marker.unlink()
    assert run_main(agent, [*args, "--sacct", str(fake_slurm.sacct)], now=lambda: NOW)[0] == 0
    assert not marker.exists()  # --sacct wins over the env var


def test_associations_from_real_captures_any_column_order(agent):
    at = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    found = agent.parse_associations(
        (DATA / "sacctmgr_associations_22.05.txt").read_text(),
        (DATA / "sacctmgr_withcoord_22.05.txt").read_text(),
        "alpha",
        at,
    )
    assert found["collected_at"] == "2024-05-01T00:00:00Z"
    rows = found["associations"]
    assert {"account": "physics", "parent": "root", "user": ""} in rows
    assert {"account": "chemistry", "parent": "", "user": "bob"} in rows
    assert len(rows) == 10
    assert found["coordinators"] == [{"account": "physics", "user": "bob"}]
    # Another order, extra columns, another cluster's rows in a shared slurmdbd, several coordinators.
    other = agent.parse_associations(
        "User|Par Name|Account|Cluster|Share\ndave||proj|alpha|1\n|root|proj|alpha|1\neve||x|beta|1\n",
        "Coord Accounts|Account\nzed, amy|proj\n|x\n",
        "alpha",
        at,
    )
    assert other["associations"] == [
        {"account": "proj", "parent": "", "user": "dave"},
        {"account": "proj", "parent": "root", "user": ""},
    ]
    assert other["coordinators"] == [{"account": "proj", "user": "amy"}, {"account": "proj", "user": "zed"}]
    assert agent.parse_associations("", "", "alpha", at)["associations"] == []


def test_sacctmgr_failure_ships_drops_without_associations(agent, fake_slurm, monkeypatch):
    monkeypatch.setenv("FAKE_SACCTMGR_FAIL", "sacctmgr: error: Problem talking to the database")
    code, stream = run_main(agent, ["--no-config", "--stdout", "--start-date", "2024-05-02"], now=lambda: NOW)
    assert code == 0
    drops = [m for m, _ in landing.iter_drop_stream(io.BytesIO(stream))]
    assert len(drops) == 2 and all(m["associations"] is None for m in drops)
    assert all(m["inventory"] for m in drops)  # the rest of the run is unaffected


def test_inventory_goes_with_recent_drops_only(agent, fake_slurm, tmp_path):
    code, stream = run_main(agent, ["--no-config", "--stdout", "--start-date", "2024-04-28"], now=lambda: NOW)
    assert code == 0
    drops = {m["day"]: m for m, _ in landing.iter_drop_stream(io.BytesIO(stream))}
    assert sorted(drops) == [
        "2024-04-28",
        "2024-04-29",
        "2024-04-30",
        "2024-05-01",
        "2024-05-02",
        "2024-05-03",
    ]
    # collection_window_days (3) back from today: the days whose capacity this snapshot describes.
    assert [d for d, m in sorted(drops.items()) if m["inventory"]] == [
        "2024-04-30",
        "2024-05-01",
        "2024-05-02",
        "2024-05-03",
    ]
    node = drops["2024-05-03"]["inventory"]["nodes"][0]
    assert (node["node"], node["cpus"], node["gpus"]) == ("vm", 16, {"a100": 2, "v100": 2})
    # The associations snapshot (collected once per run) goes with the same recent drops.
    assert [d for d, m in sorted(drops.items()) if m["associations"]] == [
        "2024-04-30",
        "2024-05-01",
        "2024-05-02",
        "2024-05-03",
    ]
    assert drops["2024-05-03"]["associations"]["coordinators"] == [{"account": "physics", "user": "bob"}]
    assert drops["2024-05-03"]["format"] == "slurm-usage-drop/2"
    assert drops["2024-05-03"]["window_end"] == "2024-05-03T12:30:00Z"  # today's window stops at now


# ------------------------------------------------------------------ watermark and windows


def drop_mode_config(tmp_path: Path, days: int = 2) -> Path:
    return write_config(
        tmp_path,
        cluster_name="alpha",
        collection_window_days=days,
        output_dir=str(tmp_path / "d"),
        state_file=str(tmp_path / "state" / "state.json"),
        spool_dir=str(tmp_path / "spool"),
    )


def test_incremental_runs_recollect_only_the_overlap_window(agent, fake_slurm, tmp_path):
    config = drop_mode_config(tmp_path, days=2)
    first = dt.datetime(2024, 5, 10, 2, 15, tzinfo=dt.UTC)
    assert agent.main(["--config", str(config)], now=lambda: first) == 0
    assert fake_slurm.windows() == [
        ("2024-05-08T00:00:00", "2024-05-09T00:00:00"),  # collection_window_days back on the first run
        ("2024-05-09T00:00:00", "2024-05-10T00:00:00"),
        ("2024-05-10T00:00:00", "2024-05-10T02:15:00"),  # up to now
    ]
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["watermarks"] == {"alpha": "2024-05-10T02:15:00Z"}
    fake_slurm.log.unlink()
    # Next day: only the last two days again (late finishers) plus the new part.
    second = dt.datetime(2024, 5, 11, 2, 5, tzinfo=dt.UTC)
    assert agent.main(["--config", str(config)], now=lambda: second) == 0
    assert fake_slurm.windows() == [
        ("2024-05-09T00:00:00", "2024-05-10T00:00:00"),
        ("2024-05-10T00:00:00", "2024-05-11T00:00:00"),
        ("2024-05-11T00:00:00", "2024-05-11T02:05:00"),
    ]
    fake_slurm.log.unlink()
    # Off for five days: resume from the watermark, not just the window.
    third = dt.datetime(2024, 5, 16, 2, 0, tzinfo=dt.UTC)
    assert agent.main(["--config", str(config)], now=lambda: third) == 0
    assert fake_slurm.windows()[0] == ("2024-05-11T00:00:00", "2024-05-12T00:00:00")
    assert fake_slurm.windows()[-1] == ("2024-05-16T00:00:00", "2024-05-16T02:00:00")


def test_windows_are_utc_days_whatever_the_local_zone_and_dst(agent, fake_slurm, tmp_path, monkeypatch):
    import time

    tz_log = tmp_path / "tz.txt"
    wrapper = tmp_path / "tz-sacct"
    wrapper.write_text(f'#!/bin/sh\necho "$TZ" >> {tz_log}\nexec {fake_slurm.sacct} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("TZ", "America/New_York")  # 2024-03-10 is a 23-hour day there
    time.tzset()
    try:
        args = ["--no-config", "--stdout", "--sacct", str(wrapper), "--start-date", "2024-03-09"]
        code, _ = run_main(agent, [*args, "--end-date", "2024-03-11"], now=lambda: NOW)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert code == 0
    assert fake_slurm.windows() == [
        ("2024-03-09T00:00:00", "2024-03-10T00:00:00"),
        ("2024-03-10T00:00:00", "2024-03-11T00:00:00"),
        ("2024-03-11T00:00:00", "2024-03-12T00:00:00"),
    ]
    assert set(tz_log.read_text().split()) == {"UTC"}  # every sacct call, probes included


def test_explicit_dates_leave_the_watermark_alone(agent, fake_slurm, tmp_path):
    config = drop_mode_config(tmp_path)
    assert (
        agent.main(
            ["--config", str(config), "--start-date", "2024-05-01", "--end-date", "2024-05-01"],
            now=lambda: NOW,
        )
        == 0
    )
    assert not (tmp_path / "state" / "state.json").exists()


class Crash(BaseException):
    """Stands for a kill in the middle of a run (not an Exception: nothing may catch it)."""


def test_watermark_survives_a_crash_mid_run(agent, fake_slurm, tmp_path):
    config = drop_mode_config(tmp_path, days=3)
    calls = []

    def crashing_runner(argv, timeout):
        if "-S" in argv:
            calls.append(argv)
            if len(calls) == 3:
                yield b"JobID|JobIDRaw|State\n1|1|COMPL"
                raise Crash()
        yield from agent.run_command(argv, timeout)

    moment = dt.datetime(2024, 5, 10, 12, 0, tzinfo=dt.UTC)
    with pytest.raises(Crash):
        agent.main(["--config", str(config)], runner=crashing_runner, now=lambda: moment)
    state = json.loads((tmp_path / "state" / "state.json").read_text())  # still valid JSON
    assert state["watermarks"]["alpha"] == "2024-05-09T00:00:00Z"  # end of the last complete window
    assert not [p for p in (tmp_path / "state").iterdir() if p.name.startswith(".tmp")]
    assert not list((tmp_path / "d").glob("alpha/2024-05-09/*"))  # the crashed day left no visible file
    fake_slurm.log.unlink(missing_ok=True)
    later = dt.datetime(2024, 5, 12, 12, 0, tzinfo=dt.UTC)
    assert agent.main(["--config", str(config)], now=lambda: later) == 0
    assert fake_slurm.windows()[0] == ("2024-05-09T00:00:00", "2024-05-10T00:00:00")  # resumes at the gap


def test_second_run_waits_for_the_lock(agent, fake_slurm, tmp_path, capsys):
    import fcntl

    config = drop_mode_config(tmp_path)
    lock_path = tmp_path / "state" / "state.json.lock"
    lock_path.parent.mkdir(parents=True)
    with open(lock_path, "ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert agent.main(["--config", str(config)], now=lambda: NOW) == agent.EXIT_LOCKED
    assert "another run holds" in capsys.readouterr().err


# -------------------------------------------------------------------------------- streaming


def test_a_big_extraction_streams_in_bounded_memory(tmp_path, fake_slurm):
    """~160 MB of sacct text through --stdout: peak RSS of the agent stays under 100 MB."""
    big = tmp_path / "bin" / "sacct"
    big.parent.mkdir()
    line = "1|1|alice|physics|cpu|COMPLETED|2024-05-01T00:00:00|2024-05-01T01:00:00|01:00:00|3600|4|cpu=4|x" * 1
    big.write_text(
        "#!/bin/sh\n"
        'case "$1" in --version) echo "slurm 22.05.8"; exit 0;; --helpformat) cat "$FAKE_SACCT_HELPFORMAT"; exit 0;;'
        " esac\n"
        "echo 'JobID|JobIDRaw|User|Account|Partition|State|Submit|Start|Elapsed|ElapsedRaw|AllocCPUS|AllocTRES|"
        "JobName'\n"
        f"yes '{line}' | head -n 1800000\n"
    )
    big.chmod(0o755)
    py38 = Path("/root/.pyenv/versions/3.8.18/bin/python3.8")
    python = str(py38) if py38.exists() else sys.executable
    out = tmp_path / "stream.bin"
    script = (
        "import resource, subprocess, sys\n"
        "with open(sys.argv[1], 'wb') as out:\n"
        "    p = subprocess.run(sys.argv[2:], stdout=out)\n"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(out),
            python,
            str(AGENT_FILE),
            "--no-config",
            "--stdout",
            "--cluster",
            "alpha",
            "--sacct",
            str(big),
            "--start-date",
            "2024-05-01",
            "--end-date",
            "2024-05-01",
        ],
        capture_output=True,
        text=True,
        env=fake_slurm.env,
        check=True,
    )
    code, max_rss_kib = map(int, proc.stdout.split())
    assert code == 0, proc.stderr
    with open(out, "rb") as fh:
        [(manifest, _gz)] = list(landing.iter_drop_stream(fh))
    assert manifest["rows"] == 1800000
    assert manifest["gzip_size"] < 20 * 1024 * 1024
    assert max_rss_kib < 100 * 1024, f"peak RSS {max_rss_kib} KiB for {1800000 * len(line) >> 20} MB of text"


def test_slurm_commands_never_see_the_api_key(agent, monkeypatch):
    # Found by the reliability suite: a key given as SLURM_USAGE_API_KEY reached sacct's environment.
    monkeypatch.setenv(agent.API_KEY_ENV, "secret-key-123")
    child_env = b"".join(agent.run_command(["env"], 10)).decode()
    assert "secret-key-123" not in child_env
    assert "TZ=UTC" in child_env.splitlines()
