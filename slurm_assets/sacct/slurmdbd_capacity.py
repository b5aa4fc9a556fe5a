"""slurmdbd's capacity of a day -> ``capacity_daily`` (DESIGN.md "Tables"), and the cross-check with the inventory.

The agent ships, with each day's drop, the manifest's ``capacity`` section (docs/DROP_FORMAT.md):
``sreport -P -t seconds cluster utilization`` of the window (cpu and gres/gpu TRES-seconds: allocated,
down, planned down, idle, planned, reported) and the ``sacctmgr show event`` records overlapping it.
slurmdbd keeps these for the whole history, so every backfilled day gets capacity, not only the
days whose drops carry the agent's ``scontrol`` inventory.

One row per cluster-day, partition ``""`` (sreport has no partitions): ``cpu_hours_available`` =
reported CPU-seconds / 3600 (what the cluster had that day, down time included, as the inventory's
``cpus x 24`` is), the six TRES-second figures as sreport prints them, ``cpus``/``gpus``/``nodes``/
``mem_bytes`` from the latest cluster event's TRES (``cpu=16,gres/gpu=4,mem=16000M,node=1``), else
reported seconds over the window. Pure: sections come from validated manifests; odd values count as 0.
"""

import datetime as dt
import re

import pyarrow as pa

from slurm_assets.sacct.capacity import capacity_from_inventory, with_schema
from slurm_assets.sacct.fields import QUARANTINE_SCHEMA

_PARTS = ("allocated", "down", "planned_down", "idle", "planned", "reported")
_MEM_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)$")


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def cluster_tres(section: dict) -> dict[str, str]:
    """The TRES of the latest cluster event (``Cluster Registered TRES``) in the section, as {key: value}."""
    events = [e for e in section.get("events") or [] if isinstance(e, dict) and not e.get("nodename") and e.get("tres")]
    if not events:
        return {}
    latest = max(events, key=lambda e: str(e.get("timestart", "")))
    return dict(item.split("=", 1) for item in str(latest["tres"]).split(",") if "=" in item)


def _mem_bytes(text: str | None) -> int | None:
    match = _MEM_RE.match(text or "")
    if not match:
        return None
    return int(float(match.group(1)) * 1024 ** (" KMGTP".index(match.group(2) or " ")))


def _count(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def capacity_from_slurmdbd(section: dict | None, cluster: str, day: str) -> pa.Table:
    """CAPACITY_DAILY_SCHEMA rows (one, or none without a reported CPU figure) of ``cluster`` on ``day``."""
    util = (section or {}).get("utilization") or {}
    cpu, gpu = util.get("cpu") or {}, util.get("gres/gpu") or {}
    if not _int(cpu.get("reported")):
        return with_schema(pa.table({}))
    tres = cluster_tres(section)
    start = dt.datetime.strptime(section["window_start"], "%Y-%m-%dT%H:%M:%SZ")
    seconds = max((dt.datetime.strptime(section["window_end"], "%Y-%m-%dT%H:%M:%SZ") - start).total_seconds(), 1)
    types = sorted((k.split(":", 1)[1], v) for k, v in tres.items() if k.startswith("gres/gpu:") and v.isdigit())
    row = {
        "cluster": cluster,
        "date": dt.date.fromisoformat(day),
        "partition": "",
        "nodes": _count(tres.get("node")),
        "cpus": _count(tres.get("cpu")) or round(_int(cpu.get("reported")) / seconds),
        "mem_bytes": _mem_bytes(tres.get("mem")),
        "gpus": _count(tres.get("gres/gpu")) or round(_int(gpu.get("reported")) / seconds),
        "gpu_types": ",".join(f"{t}:{n}" for t, n in types),
        "cpu_hours_available": _int(cpu.get("reported")) / 3600,
        "gpu_hours_available": _int(gpu.get("reported")) / 3600,
        "source": "slurmdbd",
        "node_events": sum(1 for e in section.get("events") or [] if isinstance(e, dict) and e.get("nodename")),
    }
    for tres_name, values in (("cpu", cpu), ("gpu", gpu)):
        for part in _PARTS:
            row[f"{tres_name}_seconds_{part}"] = _int(values.get(part)) if values else None
    return with_schema(pa.Table.from_pylist([row]))


def crosscheck(inventory: dict | None, section: dict | None) -> str | None:
    """A message when the inventory's CPUs or GPUs (over its nodes) differ from slurmdbd's cluster TRES; else None.

    Checked only where both exist and slurmdbd names the count (a cluster event's TRES)."""
    tres = cluster_tres(section or {})
    nodes = (inventory or {}).get("nodes") or []
    if not tres or not nodes:
        return None
    inv_cpus = sum(_int(n.get("cpus")) for n in nodes if isinstance(n, dict))
    inv_gpus = sum(
        _int(c) for n in nodes if isinstance(n, dict) and isinstance(n.get("gpus"), dict) for c in n["gpus"].values()
    )
    db_cpus, db_gpus = _count(tres.get("cpu")), _count(tres.get("gres/gpu")) or 0
    if db_cpus is None or (inv_cpus, inv_gpus) == (db_cpus, db_gpus):
        return None
    return (
        f"the agent's inventory (scontrol) has {inv_cpus} CPUs and {inv_gpus} GPUs on {len(nodes)} nodes, "
        f"slurmdbd's cluster TRES says cpu={db_cpus}, gres/gpu={db_gpus}: capacity_daily keeps the inventory; "
        "check the nodes' configuration (slurm.conf vs. the running slurmctld) or the agent's cluster name"
    )


def day_capacity(
    cluster: str, day: str, manifests: list[tuple[str, dict]], threads: int | None = None
) -> tuple[pa.Table, pa.Table]:
    """``capacity_daily`` of a cluster-day from its readable drops' ``(drop_id, manifest)``, oldest first: the
    latest inventory's partitions, else slurmdbd's figures (every backfilled day has them); where both exist
    a disagreement is one quarantine row ``capacity_mismatch`` (QUARANTINE_SCHEMA), else none."""
    with_inventory = [(i, m) for i, m in manifests if m.get("inventory")]
    with_capacity = [m for _, m in manifests if m.get("capacity")]
    mismatch = QUARANTINE_SCHEMA.empty_table()
    if not with_inventory:
        cap = capacity_from_slurmdbd(with_capacity[-1]["capacity"], cluster, day) if with_capacity else None
        return (cap if cap is not None else with_schema(pa.table({}))), mismatch
    drop_id, latest = with_inventory[-1]
    problem = crosscheck(latest["inventory"], with_capacity[-1]["capacity"]) if with_capacity else None
    if problem:
        mismatch = pa.Table.from_pylist(
            [
                {
                    "cluster": cluster,
                    "date": dt.date.fromisoformat(day),
                    "drop_id": drop_id,
                    "line_no": 0,
                    "reason": "capacity_mismatch",
                    "detail": f"landing/{cluster}/{day}/{drop_id}: {problem}",
                    "raw_line": "",
                }
            ],
            schema=QUARANTINE_SCHEMA,
        )
    return capacity_from_inventory(latest["inventory"], cluster, day, threads), mismatch
