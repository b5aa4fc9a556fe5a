"""A stand-in ``scontrol`` for the demo: ``show node --oneliner``, ``show config`` and ``--version``.

The node inventory comes from ``catalog.cluster_layout`` for ``SLURM_DEMO_CLUSTER``
(default ``alpha``), printed in the ``--oneliner`` shape of Slurm 23.02.
"""

import sys
from collections.abc import Mapping, Sequence

from slurm_assets import settings
from slurm_assets.demo import catalog
from slurm_assets.demo.fake_sacct import DEFAULT_CLUSTER


def node_lines(cluster: str) -> list[str]:
    """One ``scontrol show node --oneliner`` line per node of ``cluster``."""
    version = catalog.SACCT_VERSION.split()[-1]
    lines = []
    for group in catalog.cluster_layout(cluster).groups:
        gres = f"gpu:{group.gpu_type}:{group.gpus}" if group.gpus else "(null)"
        cfg_tres = f"cpu={group.cpus},mem={group.mem_mb}M,billing={group.cpus}"
        if group.gpus:
            cfg_tres += f",gres/gpu={group.gpus},gres/gpu:{group.gpu_type}={group.gpus}"
        for i in range(group.count):
            name = group.name(i)
            lines.append(
                f"NodeName={name} Arch=x86_64 CoresPerSocket={group.cpus // 2} CPUAlloc=0 CPUEfctv={group.cpus} "
                f"CPUTot={group.cpus} CPULoad=0.00 AvailableFeatures=(null) ActiveFeatures=(null) Gres={gres} "
                f"NodeAddr={name} NodeHostName={name} Version={version} OS=Linux 6.1.0-18-amd64 "
                f"RealMemory={group.mem_mb} AllocMem=0 FreeMem={group.mem_mb - 4000} Sockets=2 Boards=1 "
                f"State=IDLE ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A "
                f"Partitions={','.join(group.partitions)} BootTime=2026-01-05T08:00:00 "
                f"SlurmdStartTime=2026-01-05T08:01:00 LastBusyTime=2026-01-05T08:01:00 ResumeAfterTime=None "
                f"CfgTRES={cfg_tres} AllocTRES= CapWatts=n/a CurrentWatts=0 AveWatts=0 "
                f"ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s"
            )
    return lines


def config_text(cluster: str) -> str:
    """The head of ``scontrol show config`` (enough for ClusterName)."""
    version = catalog.SACCT_VERSION.split()[-1]
    return (
        "Configuration data as of 2026-01-05T08:00:00\n"
        "AccountingStorageType   = accounting_storage/slurmdbd\n"
        f"ClusterName             = {cluster}\n"
        "SelectType              = select/cons_tres\n"
        f"SLURM_VERSION           = {version}\n"
    )


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = [a for a in (sys.argv[1:] if argv is None else argv) if a not in ("-o", "--oneliner")]
    env = settings.demo_slurm_env() if env is None else env
    cluster = env.get("SLURM_DEMO_CLUSTER") or DEFAULT_CLUSTER
    if args in (["--version"], ["-V"]):
        print(catalog.SACCT_VERSION)
    elif args[:2] in (["show", "node"], ["show", "nodes"]):
        print("\n".join(node_lines(cluster)))
    elif args[:2] == ["show", "config"]:
        sys.stdout.write(config_text(cluster))
    else:
        sys.stderr.write(
            f"scontrol (demo stand-in): unsupported command {' '.join(args)!r}; "
            "supported: show node --oneliner, show config, --version\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `scontrol ... | head`
        sys.exit(0)
