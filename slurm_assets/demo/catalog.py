"""What the demo clusters look like: users, accounts, partitions, QoS, nodes, and sacct's field names.

Pure data plus small deterministic helpers; nothing here reads the environment or
the clock. ``generate.py`` draws jobs from it and ``fake_sacct.py`` prints
``--helpformat`` and the ``scontrol`` inventory from it.
"""

import hashlib
from dataclasses import dataclass

# `sacct --helpformat` field names as Slurm 22.05/23.02 print them (sacct.c fields[]).
# The header of `--parsable2` output uses exactly these spellings, whatever case
# the `--format` list used.
SACCT_FIELDS = [
    "Account",
    "AdminComment",
    "AllocCPUS",
    "AllocNodes",
    "AllocTRES",
    "AssocID",
    "AveCPU",
    "AveCPUFreq",
    "AveDiskRead",
    "AveDiskWrite",
    "AvePages",
    "AveRSS",
    "AveVMSize",
    "BlockID",
    "Cluster",
    "Comment",
    "Constraints",
    "ConsumedEnergy",
    "ConsumedEnergyRaw",
    "Container",
    "CPUTime",
    "CPUTimeRAW",
    "DBIndex",
    "DerivedExitCode",
    "Elapsed",
    "ElapsedRaw",
    "Eligible",
    "End",
    "ExitCode",
    "Flags",
    "GID",
    "Group",
    "JobID",
    "JobIDRaw",
    "JobName",
    "Layout",
    "MaxDiskRead",
    "MaxDiskReadNode",
    "MaxDiskReadTask",
    "MaxDiskWrite",
    "MaxDiskWriteNode",
    "MaxDiskWriteTask",
    "MaxPages",
    "MaxPagesNode",
    "MaxPagesTask",
    "MaxRSS",
    "MaxRSSNode",
    "MaxRSSTask",
    "MaxVMSize",
    "MaxVMSizeNode",
    "MaxVMSizeTask",
    "McsLabel",
    "MinCPU",
    "MinCPUNode",
    "MinCPUTask",
    "NCPUS",
    "NNodes",
    "NodeList",
    "NTasks",
    "Partition",
    "Priority",
    "QOS",
    "QOSRAW",
    "Reason",
    "ReqCPUFreq",
    "ReqCPUFreqGov",
    "ReqCPUFreqMax",
    "ReqCPUFreqMin",
    "ReqCPUS",
    "ReqMem",
    "ReqNodes",
    "ReqTRES",
    "Reservation",
    "ReservationId",
    "Reserved",
    "ResvCPU",
    "ResvCPURAW",
    "Start",
    "State",
    "Submit",
    "SubmitLine",
    "Suspended",
    "SystemComment",
    "SystemCPU",
    "Timelimit",
    "TimelimitRaw",
    "TotalCPU",
    "TRESUsageInAve",
    "TRESUsageInMax",
    "TRESUsageInMaxNode",
    "TRESUsageInMaxTask",
    "TRESUsageInMin",
    "TRESUsageInMinNode",
    "TRESUsageInMinTask",
    "TRESUsageInTot",
    "TRESUsageOutAve",
    "TRESUsageOutMax",
    "TRESUsageOutMaxNode",
    "TRESUsageOutMaxTask",
    "TRESUsageOutMin",
    "TRESUsageOutMinNode",
    "TRESUsageOutMinTask",
    "TRESUsageOutTot",
    "UID",
    "User",
    "UserCPU",
    "WCKey",
    "WCKeyID",
    "WorkDir",
]
FIELD_BY_LOWER = {name.lower(): name for name in SACCT_FIELDS}
# sacct's default --format (no --format given, Slurm 22.05/23.02).
DEFAULT_FORMAT = ("JobID", "JobName", "Partition", "Account", "AllocCPUS", "State", "ExitCode")

SACCT_VERSION = "slurm 23.02.7"

USERS = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "xavier",
    "yolanda",
    "zoe",
    "aaron",
    "bella",
    "chen",
    "dmitri",
    "elena",
    "farid",
    "gita",
    "hiro",
    "ines",
    "jonas",
    "kemal",
    "lara",
    "mateo",
    "nadia",
    "omar",
    "priya",
    "quinn",
    "raj",
]
ACCOUNTS = ("physics", "chemistry", "bio", "climate", "astro", "materials", "cs", "engineering")
# Users are spread over accounts unevenly (big groups and small ones); some
# users also charge a second account now and then.
USER_ACCOUNT = {u: ACCOUNTS[min(7, int((i * 0.37) ** 1.3) % 8)] for i, u in enumerate(USERS)}
UID_BASE = 1000
GID_BASE = 2000

PARTITIONS = ("cpu", "gpu", "bigmem", "debug")
QOS_LIST = ("normal", "high", "low", "long")
QOS_IDS = {"normal": 1, "high": 2, "low": 3, "long": 4}
JOB_NAMES = (
    "run.sh",
    "train",
    "sim",
    "md_equil",
    "vasp",
    "gromacs",
    "lammps",
    "analysis",
    "preprocess",
    "wrf",
    "bash",
    "jupyter",
    "pytorch_ddp",
    "blast",
    "cp2k",
    "postproc",
    "snakemake",
    "nextflow",
    "R",
    "matlab",
)
STEP_PROGRAMS = ("python", "srun_app", "mpi_app", "pw.x", "gmx_mpi", "lmp", "orterun", "julia")


@dataclass(frozen=True)
class NodeGroup:
    """A homogeneous set of nodes: ``prefix`` + zero-padded numbers, e.g. ``cn[001-064]``."""

    prefix: str
    count: int
    cpus: int
    mem_mb: int
    gpu_type: str  # "" when the nodes have no GPU
    gpus: int
    partitions: tuple[str, ...]

    def name(self, i: int) -> str:
        return f"{self.prefix}{i + 1:03d}"


@dataclass(frozen=True)
class ClusterLayout:
    """Nodes of one demo cluster; sizes derive from the cluster name so each cluster differs."""

    name: str
    groups: tuple[NodeGroup, ...]

    def group_for(self, partition: str, gpu_type: str = "") -> NodeGroup:
        for g in self.groups:
            if partition in g.partitions and (not gpu_type or g.gpu_type == gpu_type):
                return g
        raise KeyError(f"cluster {self.name}: no node group serves partition {partition!r} gpu {gpu_type!r}")

    def gpu_types(self) -> tuple[str, ...]:
        return tuple(g.gpu_type for g in self.groups if g.gpus)


def cluster_layout(cluster: str) -> ClusterLayout:
    """The node layout of ``cluster`` (deterministic in the name)."""
    h = int.from_bytes(hashlib.sha256(cluster.encode()).digest()[:4], "big")
    cpu_nodes = 32 + (h % 4) * 16  # 32..80
    gpu_new = ("a100", "h100")[h >> 3 & 1]
    return ClusterLayout(
        cluster,
        (
            NodeGroup("cn", cpu_nodes, 64, 256_000, "", 0, ("cpu", "debug")),
            NodeGroup("gn", 8 + (h >> 5) % 3 * 4, 64, 512_000, gpu_new, 4, ("gpu",)),
            NodeGroup("gv", 8, 32, 192_000, "v100", 4, ("gpu",)),
            NodeGroup("bm", 4, 128, 2_048_000, "", 0, ("bigmem",)),
        ),
    )


# Slurm's account tree and coordinators of the demo (what `sacctmgr show associations` / `show account
# withcoord` answer, so the dashboard shows its roles): astro is a sub-account of physics and materials of
# chemistry; each account's coordinator (PI) is its first user in USERS order with that main account.
ACCOUNT_PARENTS = {a: {"astro": "physics", "materials": "chemistry"}.get(a, "root") for a in ACCOUNTS}
COORDINATORS = {
    a: next(u for u in USERS if USER_ACCOUNT[u] == a) for a in ACCOUNTS if any(USER_ACCOUNT[u] == a for u in USERS)
}


def user_accounts(user: str) -> tuple[str, ...]:
    """The accounts ``user`` may charge: the main one and the second one some jobs use (jobmodel.py)."""
    second = ACCOUNTS[USERS.index(user) * 3 % len(ACCOUNTS)]
    return tuple(sorted({USER_ACCOUNT[user], second}))
