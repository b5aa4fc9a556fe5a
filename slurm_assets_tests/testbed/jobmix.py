"""Submit the testbed's job mix and wait until its finished jobs are recorded by slurmdbd.

Run as root after start-cluster.sh (and start-sshd.sh): ``python3 jobmix.py`` (submit-jobs.sh does).
Stdlib only, so the system python3 can run it. Writes ``$SLURM_TESTBED_DIR/state.json``, which the
``slurm_testbed`` pytest fixture (slurm_assets_tests/conftest.py) reads to reuse a running testbed.

The mix covers COMPLETED, FAILED, CANCELLED (running, pending and held), TIMEOUT (``-t 1``: ~87 s,
the long pole), OUT_OF_MEMORY (batch and step), an array with a throttle and a failing task, srun steps
with real memory use, typed and untyped GPU GRES, a requeued job, a job whose submit line has a ``|``,
and jobs left RUNNING (week-long sleeps) and PENDING (a ``-c 16`` job behind them, a held job, a
dependency, the remainder of a throttled array).
"""

import datetime as dt
import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

TB = Path(os.environ.get("SLURM_TESTBED_DIR", "/var/lib/slurm-testbed"))
CLUSTER = os.environ.get("SLURM_TESTBED_CLUSTER", "alpha")
SSH_USER = os.environ.get("SLURM_TESTBED_SSH_USER", "alice")
SSH_PORT = int(os.environ.get("SLURM_TESTBED_SSH_PORT", "2222"))
USERS = ["alice", "bob", "carol"]
ACCOUNTS = ["physics", "chemistry", "bio"]
PARTITIONS = ["cpu", "gpu", "debug"]
PY = "/usr/bin/python3"
# Bump when MIX or the state.json keys change: the fixture restarts a testbed of another version.
MIX_VERSION = 1
WAIT_FINISHED_S = 240

# python one-liners run inside jobs: touch N MB for real (bytes * n writes every page), hold it a while.
ALLOC = PY + " -c 'import time; b = b\"x\" * ({mb} * 1024 * 1024); time.sleep({s})'"

# name -> (user, sbatch args, batch script or None). Submission order matters: the TIMEOUT job goes
# first (it is the long pole), the -c 16 jobs last (while first in the FIFO queue they would make the
# main scheduler skip later cpu jobs until the next backfill pass).
MIX = [
    ("timeout", "alice", ["-A", "physics", "-t", "1", "-J", "tb_timeout"], "#!/bin/bash\nsrun sleep 300\n"),
    (
        "running_long",
        "alice",
        ["-A", "physics", "-c", "2", "-t", "UNLIMITED", "-J", "tb_running"],
        "#!/bin/bash\nsrun sleep 7d\n",
    ),
    (
        "running_gpu",
        "carol",
        ["-A", "bio", "-p", "gpu", "--gres=gpu:v100:1", "-t", "2-00:00:00", "-J", "tb_running_gpu"],
        "#!/bin/bash\nsleep 2d\n",
    ),
    (
        "array_running",
        "bob",
        ["-A", "chemistry", "--array=1-3%1", "--qos=low", "-J", "tb_array_running", "--wrap", "sleep 7d"],
        None,
    ),
    (
        "completed_steps",
        "alice",
        ["-A", "chemistry", "--ntasks=2", "--mem-per-cpu=200M", "-t", "10", "-J", "tb_mem_steps"],
        "#!/bin/bash\nsrun -n 2 "
        + ALLOC.format(mb=50, s=5)
        + "\nsrun -n 1 "
        + ALLOC.format(mb=80, s=3)
        + "\necho done\n",
    ),
    ("completed", "bob", ["-A", "chemistry", "--qos=high", "-t", "5", "-J", "tb_completed", "--wrap", "sleep 2"], None),
    ("pipe", "carol", ["-A", "bio", "-p", "debug", "--wrap", "echo a | cat"], None),
    ("failed", "bob", ["-A", "chemistry", "-J", "tb_failed", "--wrap", "sleep 1; exit 3"], None),
    (
        "failed_step",
        "carol",
        ["-A", "physics", "-J", "tb_failed_step", "--mem=1G"],
        "#!/bin/bash\nsrun true\nsrun false\n",
    ),
    (
        "oom",
        "alice",
        ["-A", "physics", "--mem=64M", "-J", "tb_oom"],
        "#!/bin/bash\n" + ALLOC.format(mb=300, s=2) + "\n",
    ),
    (
        "oom_step",
        "bob",
        ["-A", "chemistry", "--mem=64M", "-J", "tb_oom_step"],
        "#!/bin/bash\nsrun " + ALLOC.format(mb=300, s=2) + "\n",
    ),
    (
        "array",
        "carol",
        ["-A", "bio", "--array=1-6%2", "-J", "tb_array", "--wrap", 'sleep 2; test "$SLURM_ARRAY_TASK_ID" != 4'],
        None,
    ),
    (
        "gpu_typed",
        "alice",
        ["-A", "physics", "-p", "gpu", "--gres=gpu:a100:1", "-c", "2", "-J", "tb_gpu_a100", "--wrap", "sleep 3"],
        None,
    ),
    (
        "gpu_untyped",
        "bob",
        ["-A", "chemistry", "-p", "gpu", "--gres=gpu:1", "-J", "tb_gpu_any", "--wrap", "sleep 3"],
        None,
    ),
    (
        "gpu_two",
        "carol",
        [
            "-A",
            "bio",
            "-p",
            "gpu",
            "--gres=gpu:a100:2",
            "-c",
            "4",
            "--qos=high",
            "-J",
            "tb_gpu_2xa100",
            "--wrap",
            "sleep 2",
        ],
        None,
    ),
    ("cancel_running", "bob", ["-A", "chemistry", "-J", "tb_cancel_running", "--wrap", "sleep 600"], None),
    ("requeue", "alice", ["-A", "physics", "--requeue", "-J", "tb_requeue", "--wrap", "sleep 20"], None),
    (
        "pending_resources",
        "carol",
        ["-A", "bio", "-c", "16", "-t", "30", "-J", "tb_pending", "--wrap", "sleep 60"],
        None,
    ),
    ("cancel_pending", "alice", ["-A", "physics", "-c", "16", "-J", "tb_cancel_pending", "--wrap", "sleep 60"], None),
    ("held", "bob", ["-A", "chemistry", "-H", "-J", "tb_held", "--wrap", "sleep 5"], None),
    ("cancel_held", "carol", ["-A", "bio", "-H", "-J", "tb_cancel_held", "--wrap", "sleep 5"], None),
]
DEPENDENT = ("dependency", "alice", ["-A", "physics", "-J", "tb_dependency", "--wrap", "sleep 5"])

# Jobs that must reach a final state before the testbed counts as ready, with the state they must reach.
EXPECTED_FINAL = {
    "timeout": "TIMEOUT",
    "completed_steps": "COMPLETED",
    "completed": "COMPLETED",
    "pipe": "COMPLETED",
    "failed": "FAILED",
    "failed_step": "FAILED",
    "oom": "OUT_OF_MEMORY",
    "oom_step": "FAILED",
    "gpu_typed": "COMPLETED",
    "gpu_untyped": "COMPLETED",
    "gpu_two": "COMPLETED",
    "cancel_running": "CANCELLED",
    "cancel_pending": "CANCELLED",
}
ARRAY_TASKS = 6
ACTIVE = {
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "SUSPENDED",
    "CONFIGURING",
    "COMPLETING",
    "RESIZING",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
}


def log(msg):
    print(f"[jobmix {dt.datetime.now(dt.UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def run(argv, user=None, stdin=None):
    """Run a SLURM client (as `user` when given) with TZ=UTC; return stdout, raise with stderr on failure."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TZ": "UTC", "LANG": "C.UTF-8"}
    if user:
        home = pwd.getpwnam(user).pw_dir
        env.update(HOME=home, USER=user, LOGNAME=user)
        argv = ["runuser", "-u", user, "--"] + argv
        cwd = home
    else:
        env["HOME"] = "/root"
        cwd = "/"
    proc = subprocess.run(argv, check=False, input=stdin, capture_output=True, text=True, env=env, cwd=cwd)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def submit(name, user, args, script):
    out = run(["sbatch", "--parsable"] + args, user=user, stdin=script)
    job_id = out.strip().split(";")[0]
    log(f"submitted {name:<18} as {user:<5} -> {job_id}")
    return job_id


def squeue_state(job_id):
    out = run(["squeue", "-h", "-j", job_id, "-o", "%T"])
    return out.strip().splitlines()[0] if out.strip() else ""


def wait_until(what, predicate, timeout_s):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s}s waiting for {what}; see {TB}/log/")
        time.sleep(0.5)


def sacct_states(job_ids):
    """JobID -> State (first word) for the allocation rows of `job_ids` (array ids expand to tasks)."""
    out = run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(job_ids)])
    states = {}
    for line in out.splitlines():
        job, _, state = line.partition("|")
        states[job] = state.split(" ")[0]
    return states


def finished_recorded(ids):
    """True when every job in EXPECTED_FINAL and every array task has a final state in slurmdbd."""
    watched = [ids[n] for n in EXPECTED_FINAL] + [ids["array"]]
    states = sacct_states(watched)
    tasks = [j for j in states if j.startswith(ids["array"] + "_") and "[" not in j]
    if len(tasks) != ARRAY_TASKS:
        return False
    return all(states.get(j) and states[j] not in ACTIVE for j in [ids[n] for n in EXPECTED_FINAL] + tasks)


def main():
    if os.geteuid() != 0:
        sys.exit(f"jobmix.py: must run as root (submits as alice/bob/carol via runuser); uid {os.geteuid()}")
    # Whole seconds, rounded down, so every job of the mix has Submit >= start.
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    time.sleep(1)
    ids = {}
    for name, user, args, script in MIX:
        ids[name] = submit(name, user, args, script)
    name, user, args = DEPENDENT
    ids[name] = submit(name, user, ["--dependency=afterok:" + ids["running_long"]] + args, None)

    wait_until("cancel_running to run", lambda: squeue_state(ids["cancel_running"]) == "RUNNING", 60)
    run(["scancel", ids["cancel_running"]], user="bob")  # recorded as "CANCELLED by <bob's uid>"
    wait_until("requeue to run", lambda: squeue_state(ids["requeue"]) == "RUNNING", 60)
    # The first run becomes a REQUEUED row (sacct -D); the job is eligible again ~2 min later.
    run(["scontrol", "requeue", ids["requeue"]])
    wait_until(
        "cancel_pending to be eligible",
        lambda: sacct_states([ids["cancel_pending"]]).get(ids["cancel_pending"]) == "PENDING",
        30,
    )
    run(["scancel", ids["cancel_pending"]], user="alice")
    run(["scancel", ids["cancel_held"]])

    log(f"waiting (<= {WAIT_FINISHED_S}s) for the finished jobs to be recorded (TIMEOUT takes ~90 s)")
    wait_until("finished jobs in sacct", lambda: finished_recorded(ids), WAIT_FINISHED_S)

    states = sacct_states([ids[n] for n in EXPECTED_FINAL])
    wrong = {n: states.get(ids[n]) for n, want in EXPECTED_FINAL.items() if states.get(ids[n]) != want}
    if wrong:
        log(f"WARNING: final states differ from the expected ones: {wrong}")

    state = {
        "cluster": CLUSTER,
        "start": start.isoformat(),
        "ready_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "users": USERS,
        "accounts": ACCOUNTS,
        "partitions": PARTITIONS,
        "ssh_host": "127.0.0.1",
        "ssh_port": SSH_PORT,
        "ssh_user": SSH_USER,
        "ssh_key_path": str(TB / "ssh" / "id_ed25519"),
        "known_hosts_path": str(TB / "ssh" / "known_hosts"),
        "job_ids": ids,
        "expected_final_states": EXPECTED_FINAL,
        "mix_version": MIX_VERSION,
    }
    tmp = TB / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, TB / "state.json")
    log(f"testbed ready; state in {TB / 'state.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
