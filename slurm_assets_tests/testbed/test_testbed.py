"""Protects the live SLURM testbed other tests rely on: the job mix it submitted is in slurmdbd with the
states, array tasks, steps, memory use and GPU TRES the parser/pipeline tests expect, and the sshd for
the SSH pull mode accepts the generated key with the written known_hosts."""

from __future__ import annotations

import re
import subprocess

import pytest

pytestmark = pytest.mark.slurm_live

FIELDS = "JobID,JobIDRaw,JobName,User,Account,Partition,State,ExitCode,DerivedExitCode,ReqTRES,AllocTRES,MaxRSS"


def sacct_rows(testbed, *args: str) -> dict[str, dict[str, str]]:
    """JobID -> {field: value} of `sacct --parsable2` output (last row wins for duplicate JobIDs)."""
    lines = testbed.sacct("--allusers", "--parsable2", f"--format={FIELDS}", *args).splitlines()
    header = lines[0].split("|")
    rows = {}
    for line in lines[1:]:
        values = line.split("|")
        rows[values[0]] = dict(zip(header, values))
    return rows


@pytest.fixture(scope="module")
def mix(slurm_testbed) -> dict[str, dict[str, str]]:
    """Rows of the job mix as the agent sees them: -S start -E now, every user."""
    return sacct_rows(slurm_testbed, "-S", slurm_testbed.start.strftime("%Y-%m-%dT%H:%M:%S"), "-E", "now")


def test_fixture_describes_the_cluster(slurm_testbed):
    assert slurm_testbed.cluster == "alpha"
    assert slurm_testbed.env["TZ"] == "UTC"
    assert slurm_testbed.start.utcoffset().total_seconds() == 0
    assert {"alice", "bob", "carol"} <= set(slurm_testbed.users)
    assert {"physics", "chemistry", "bio"} <= set(slurm_testbed.accounts)
    assert {"cpu", "gpu"} <= set(slurm_testbed.partitions)
    assert re.match(r"slurm(-wlm)? \d+\.\d+\.", slurm_testbed.sacct("--version"))  # Debian: slurm-wlm


def test_every_state_of_the_mix_is_recorded(mix):
    states = {row["State"].split(" ")[0] for row in mix.values()}
    assert {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "RUNNING", "PENDING"} <= states


def test_each_finished_job_has_its_expected_state(slurm_testbed, mix):
    got = {
        name: mix[slurm_testbed.job_ids[name]]["State"].split(" ")[0] for name in slurm_testbed.expected_final_states
    }
    assert got == slurm_testbed.expected_final_states


def test_long_jobs_are_still_running_and_pending(slurm_testbed, mix):
    ids = slurm_testbed.job_ids
    assert mix[ids["running_long"]]["State"] == "RUNNING"
    assert mix[ids["running_gpu"]]["State"] == "RUNNING"
    assert mix[ids["pending_resources"]]["State"] == "PENDING"
    assert mix[ids["array_running"] + "_1"]["State"] == "RUNNING"


def test_cancelled_rows_name_who_cancelled(slurm_testbed, mix):
    # Job rows say "CANCELLED by <uid>", steps plain "CANCELLED".
    ids = slurm_testbed.job_ids
    assert mix[ids["cancel_running"]]["State"].startswith("CANCELLED by ")
    assert mix[ids["cancel_running"] + ".batch"]["State"] == "CANCELLED"
    assert mix[ids["cancel_pending"]]["State"].startswith("CANCELLED by ")


def test_throttled_array_has_one_row_per_task(slurm_testbed, mix):
    array = slurm_testbed.job_ids["array"]
    tasks = {job: row for job, row in mix.items() if job.startswith(array + "_") and "." not in job}
    assert sorted(tasks) == [f"{array}_{n}" for n in range(1, 7)]
    assert tasks[f"{array}_4"]["State"] == "FAILED"
    # Only one task keeps the array's own raw id; the others get fresh raw ids.
    assert sorted(row["JobIDRaw"] == array for row in tasks.values()) == [False] * 5 + [True]


def test_pending_array_remainder_and_held_jobs_show_with_job_ids(slurm_testbed):
    ids = slurm_testbed.job_ids
    rows = sacct_rows(slurm_testbed, "-j", ",".join([ids["array_running"], ids["held"], ids["dependency"]]))
    assert rows[ids["array_running"] + "_[2-3%1]"]["State"] == "PENDING"
    assert rows[ids["held"]]["State"] == "PENDING"
    assert rows[ids["dependency"]]["State"] == "PENDING"


def test_gpu_jobs_carry_typed_gres_in_alloc_tres(slurm_testbed, mix):
    ids = slurm_testbed.job_ids
    assert "gres/gpu:a100=1" in mix[ids["gpu_typed"]]["AllocTRES"]
    assert "gres/gpu:a100=2" in mix[ids["gpu_two"]]["AllocTRES"]
    assert "gres/gpu:v100=1" in mix[ids["running_gpu"]]["AllocTRES"]
    # Untyped request: ReqTRES has no type, AllocTRES names the type it got.
    untyped = mix[ids["gpu_untyped"]]
    assert "gres/gpu=1" in untyped["ReqTRES"] and "gres/gpu:" not in untyped["ReqTRES"]
    assert "gres/gpu:" in untyped["AllocTRES"]


def test_srun_steps_record_real_memory_use(slurm_testbed):
    job = slurm_testbed.job_ids["completed_steps"]
    rows = sacct_rows(slurm_testbed, "--noconvert", "-j", job)
    # Step .0 touches 50 MB per task, step .1 80 MB; MaxRSS is in bytes with --noconvert.
    assert int(rows[f"{job}.0"]["MaxRSS"]) >= 50 * 1024 * 1024
    assert int(rows[f"{job}.1"]["MaxRSS"]) >= 80 * 1024 * 1024


def test_oom_step_fails_the_job_with_derived_exit_code_125(slurm_testbed, mix):
    job = slurm_testbed.job_ids["oom_step"]
    assert mix[f"{job}.0"]["State"] == "OUT_OF_MEMORY"
    assert mix[job]["DerivedExitCode"] == "0:125"


def test_requeued_run_is_a_separate_row_with_duplicates(slurm_testbed):
    job = slurm_testbed.job_ids["requeue"]
    out = slurm_testbed.sacct("--duplicates", "--parsable2", "--noheader", "-X", "--format=JobID,State", "-j", job)
    assert f"{job}|REQUEUED" in out.splitlines()


def test_pipe_in_submit_line_adds_a_field(slurm_testbed):
    # sacct -P does not escape '|': the --wrap 'echo a | cat' job's line has one field too many.
    job = slurm_testbed.job_ids["pipe"]
    lines = slurm_testbed.sacct("--parsable2", "-X", "--format=JobID,State,SubmitLine", "-j", job).splitlines()
    assert lines[1].split("|")[0] == job
    assert len(lines[1].split("|")) == len(lines[0].split("|")) + 1


def test_ssh_with_generated_key_and_known_hosts_runs_sacct(slurm_testbed):
    argv = [
        "ssh",
        "-p",
        str(slurm_testbed.ssh_port),
        "-i",
        str(slurm_testbed.ssh_key_path),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={slurm_testbed.known_hosts_path}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        f"{slurm_testbed.ssh_user}@{slurm_testbed.ssh_host}",
        "TZ=UTC sacct --version",
    ]
    proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert re.match(r"slurm(-wlm)? \d+\.\d+\.", proc.stdout)
