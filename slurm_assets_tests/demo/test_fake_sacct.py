"""Protects the stand-in sacct/scontrol the demo and benchmarks put on PATH: the executables answer
--version, --helpformat (byte-identical to real 22.05), format selection and the query flags the
agent uses, and the real agent extracts drops through them that the landing zone accepts."""

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slurm_assets.demo import catalog, fake_sacct, generate
from slurm_assets.storage import landing
from slurm_assets_tests.agent.conftest import load_agent
from slurm_assets_tests.demo.conftest import NOW, NOW_S, real_capture, sacct_text
from slurm_assets_tests.demo.conftest import rows as rows_of

AGENT = Path(__file__).resolve().parents[2] / "agent" / "slurm-usage-history-exporter.py"
WINDOW = ["-S", "2026-11-20T00:00:00", "-E", "2026-11-21T00:00:00"]


@pytest.fixture(scope="module")
def fake_bin(tmp_path_factory) -> dict[str, Path]:
    return fake_sacct.install_fake_slurm(tmp_path_factory.mktemp("bin"))


def run(cmd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_DEMO_")}
    full_env.update({"SLURM_DEMO_NOW": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), "TZ": "UTC"}, **env)
    return subprocess.run([str(cmd), *args], capture_output=True, text=True, env=full_env, timeout=60, check=False)


def test_version(fake_bin):
    proc = run(fake_bin["sacct"], "--version")
    assert (proc.returncode, proc.stdout) == (0, "slurm 23.02.7\n")


def test_helpformat_is_byte_identical_to_real_sacct(fake_bin):
    proc = run(fake_bin["sacct"], "--helpformat")
    assert proc.returncode == 0
    assert proc.stdout == real_capture("sacct_22.05_helpformat.txt")


def test_format_selection_and_flags(fake_bin):
    proc = run(
        fake_bin["sacct"],
        "--allusers",
        "--duplicates",
        "--parsable2",
        "--format=state,jobid%20,AllocTRES",
        *WINDOW,
        "-M",
        "beta",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "State|JobID|AllocTRES"
    assert len(lines) > 100 and all(line.count("|") == 2 for line in lines)
    assert any(".batch|" in line for line in lines)
    # -X: allocations only; -n: no header; -p: trailing '|'
    alloc = run(fake_bin["sacct"], "-P", "-D", "-X", "-n", "-o", "JobID", *WINDOW, "-M", "beta").stdout.splitlines()
    assert alloc and not any("." in line for line in alloc) and alloc[0] != "JobID"
    assert len(alloc) == sum(1 for line in lines[1:] if "." not in line.split("|")[1])
    parsable = run(fake_bin["sacct"], "-p", "-o", "JobID,State", *WINDOW).stdout.splitlines()
    assert parsable[0] == "JobID|State|" and all(line.endswith("|") for line in parsable)


def test_clusters_and_env_select_the_data(fake_bin):
    fields = ["--parsable2", "--format=Cluster,JobID", *WINDOW]
    both = run(fake_bin["sacct"], *fields, "-M", "alpha,beta").stdout.splitlines()
    assert {line.split("|")[0] for line in both[1:]} == {"alpha", "beta"}
    via_env = run(fake_bin["sacct"], *fields, SLURM_DEMO_CLUSTER="beta").stdout
    via_flag = run(fake_bin["sacct"], *fields, "--clusters", "beta").stdout
    assert via_env == via_flag
    other_seed = run(fake_bin["sacct"], *fields, "--clusters", "beta", SLURM_DEMO_SEED="9").stdout
    assert other_seed != via_flag
    more = run(fake_bin["sacct"], *fields, "-M", "beta", SLURM_DEMO_JOBS_PER_DAY="900").stdout
    assert len(more.splitlines()) > 2 * len(via_flag.splitlines())


def test_matches_the_generator(fake_bin):
    fields = generate.resolve_fields("JobID,JobIDRaw,State,Start,End,MaxRSS")
    cfg = fake_sacct.demo_config("alpha", {"SLURM_DEMO_NOW": NOW.isoformat()})
    start = fake_sacct.parse_sacct_time(WINDOW[1], cfg.now)
    end = fake_sacct.parse_sacct_time(WINDOW[3], cfg.now)
    expected = "JobID|JobIDRaw|State|Start|End|MaxRSS\n" + "".join(
        line + "\n" for line in generate.iter_lines(cfg, start, end, fields)
    )
    assert run(fake_bin["sacct"], "-P", "-o", ",".join(fields), *WINDOW).stdout == expected


@pytest.mark.parametrize(
    "args, message",
    [
        (["-P", "--format=JobID,Bogus", *WINDOW], 'Invalid field requested: "Bogus"'),  # as real sacct
        (["--format=JobID", *WINDOW], "only --parsable2"),  # fixed-width output is not imitated
        (["-P", "-S", "yesterday"], "invalid time 'yesterday'"),
        (["-P", "--state=CD", *WINDOW], "unrecognized arguments"),  # unsupported filters fail loudly
        (["-P", "-S", "2026-11-21", "-E", "2026-11-20"], "requested is after end time"),  # as real sacct
    ],
)
def test_unsupported_queries_fail_with_a_reason(fake_bin, args, message):
    proc = run(fake_bin["sacct"], *args)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_scontrol_inventory_and_config(fake_bin):
    nodes = run(fake_bin["scontrol"], "show", "node", "--oneliner", SLURM_DEMO_CLUSTER="beta").stdout.splitlines()
    layout = catalog.cluster_layout("beta")
    assert len(nodes) == sum(g.count for g in layout.groups)
    assert all(line.startswith("NodeName=") and " CPUTot=" in line and " RealMemory=" in line for line in nodes)
    assert any("Gres=gpu:v100:4" in line and "gres/gpu:v100=4" in line for line in nodes)
    # Same keys as the real 22.05 capture, so parsers of the real one read ours.
    real_keys = {kv.split("=", 1)[0] for kv in real_capture("scontrol_show_node_22.05_alpha.txt").split() if "=" in kv}
    ours = {kv.split("=", 1)[0] for kv in nodes[0].split() if "=" in kv}
    assert {"NodeName", "CPUTot", "RealMemory", "Gres", "State", "Partitions", "CfgTRES"} <= ours & real_keys
    config = run(fake_bin["scontrol"], "show", "config", SLURM_DEMO_CLUSTER="beta").stdout
    assert "ClusterName             = beta\n" in config
    assert run(fake_bin["scontrol"], "ping").returncode == 1


def test_the_real_agent_extracts_drops_through_the_stand_in(fake_bin, tmp_path):
    if not AGENT.exists():
        pytest.skip(f"{AGENT} not in the tree yet")
    out = tmp_path / "landing"
    # The agent's own clock decides which drops carry the inventory (recent days only):
    # collect yesterday and today, with the stand-in's `now` = the real clock.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    days = [(now.date() - dt.timedelta(days=1)).isoformat(), now.date().isoformat()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_DEMO_")}
    env.update(
        PATH=f"{fake_bin['sacct'].parent}{os.pathsep}{env['PATH']}",
        TZ="UTC",
        SLURM_DEMO_CLUSTER="beta",
        SLURM_DEMO_NOW=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        SLURM_DEMO_JOBS_PER_DAY="50",
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(AGENT),
            "--no-config",
            "--cluster",
            "beta",
            "--sacct",
            str(fake_bin["sacct"]),
            "--output-dir",
            str(out),
            "--start-date",
            days[0],
            "--end-date",
            days[1],
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    drops = landing.list_drops(tmp_path)
    assert [(d.cluster, d.day) for d in drops] == [("beta", days[0]), ("beta", days[1])]
    for drop in drops:
        manifest = landing.validate_manifest(json.loads(drop.manifest_path.read_text()))
        assert manifest["sacct_version"] == catalog.SACCT_VERSION
        assert manifest["inventory"]["nodes"], "the agent read the stand-in scontrol"
        coordinators = {(c["account"], c["user"]) for c in manifest["associations"]["coordinators"]}
        assert coordinators == set(catalog.COORDINATORS.items()), "the agent read the stand-in sacctmgr"
        text = gzip.decompress(drop.data_path.read_bytes()).decode()
        assert text.splitlines()[0] == "|".join(manifest["fields"])
        assert manifest["rows"] == len(text.splitlines()) - 1
    # Yesterday is a whole day of jobs; today may have just begun (a run at 00:05 UTC
    # sees only the jobs that were running or started since midnight).
    assert landing.validate_manifest(json.loads(drops[0].manifest_path.read_text()))["rows"] > 20


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("sreport", ["-P", "show", "associations"]),
        ("sacctmgr", ["-P", "show", "event", "clusters=beta"]),
        ("sacctmgr", ["-i", "add", "user", "eve", "account=root"]),
    ],
)
def test_slurmdbd_tools_refuse_so_the_demo_never_reads_the_machines_real_slurm(fake_bin, command, args):
    proc = run(fake_bin[command], *args)
    assert proc.returncode == 1 and "the demo has no slurmdbd" in proc.stderr and proc.stdout == ""


def test_sacctmgr_answers_the_demo_associations_the_agent_reads(fake_bin):
    """The agent's two queries, parsed by the agent's own parser: the account tree, a user association for
    every account a user's generated jobs may charge, and one coordinator per account."""
    agent = load_agent()
    assoc = run(
        fake_bin["sacctmgr"], "-P", "show", "associations", "cluster=beta", "format=Cluster,Account,ParentName,User"
    )
    coord = run(fake_bin["sacctmgr"], "-P", "show", "account", "withcoord")
    assert assoc.returncode == coord.returncode == 0, assoc.stderr + coord.stderr
    assert assoc.stdout.splitlines()[0] == "Cluster|Account|Par Name|User"
    found = agent.parse_associations(assoc.stdout, coord.stdout, "beta", dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
    rows = found["associations"]
    assert {(r["account"], r["parent"]) for r in rows if not r["user"] and r["parent"]} == set(
        catalog.ACCOUNT_PARENTS.items()
    )
    users = {(r["user"], r["account"]) for r in rows if r["user"]}
    assert {(u, a) for u in catalog.USERS for a in catalog.user_accounts(u)} <= users
    assert {(c["account"], c["user"]) for c in found["coordinators"]} == set(catalog.COORDINATORS.items())
    cfg = generate.DemoConfig(cluster="beta", seed=0, now=NOW_S, jobs_per_day=200)
    jobs = rows_of(sacct_text(cfg, NOW_S - 3 * 86400, NOW_S, ["User", "Account"]))
    charged = {(j["User"], j["Account"]) for j in jobs if j["User"]}
    assert charged and charged <= users  # every generated job's user may charge its account
