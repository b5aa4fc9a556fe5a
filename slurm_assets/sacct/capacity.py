"""Agent inventory snapshot -> ``capacity_daily`` rows: what each partition could deliver in a day.

The inventory (docs/DROP_FORMAT.md) lists nodes with their partitions, CPUs,
memory and GPUs by type. Capacity is the configured hardware, whatever state
the nodes were in at the snapshot (one instant says little about a whole day):
per partition, node count and the sums of CPUs, memory and GPUs;
``cpu_hours_available = cpus * 24`` and ``gpu_hours_available = gpus * 24``. A
node in several partitions counts in each of them, so partitions must not be
summed into a cluster total. ``gpu_types`` is ``type:count`` sorted by type, untyped GPUs
under the type ``''`` (``:4,a100:2``), as in the inventory. Malformed entries (not an object, no partitions,
non-numeric counts) are skipped or count as 0; this never raises.
"""

import math

import pyarrow as pa

from slurm_assets.sacct import units
from slurm_assets.sacct.fields import CAPACITY_DAILY_SCHEMA

_NODE_SCHEMA = pa.schema(
    [
        ("node", pa.string()),
        ("partition", pa.string()),
        ("cpus", pa.int64()),
        ("mem_bytes", pa.int64()),
        ("gpu_type", pa.string()),  # NULL on the node's row without GPUs
        ("gpus", pa.int64()),
    ]
)


def _count(value) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, min(value, 2**53))
    if isinstance(value, float) and math.isfinite(value):
        return max(0, min(int(value), 2**53))
    if isinstance(value, str) and value.strip().isdigit():
        return min(int(value.strip()), 2**53)
    return 0


def _node_rows(inventory: dict) -> list[dict]:
    """One row per (node, partition, GPU type); a loop over inventory nodes, not over jobs."""
    rows = []
    nodes = inventory.get("nodes") if isinstance(inventory, dict) else None
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, dict):
            continue
        partitions = node.get("partitions")
        if isinstance(partitions, str):
            partitions = partitions.split(",")
        if not isinstance(partitions, list):
            continue
        gpus = node.get("gpus") if isinstance(node.get("gpus"), dict) else {}
        gpu_items = [(str(t), _count(n)) for t, n in gpus.items() if _count(n) > 0] or [(None, 0)]
        for part in {str(p) for p in partitions if isinstance(p, str) and p}:
            for i, (gpu_type, n) in enumerate(gpu_items):
                rows.append(
                    {
                        "node": str(node.get("node", "")),
                        "partition": part,
                        # CPUs and memory once per (node, partition), on the first GPU-type row.
                        "cpus": _count(node.get("cpus")) if i == 0 else 0,
                        "mem_bytes": _count(node.get("mem_bytes")) if i == 0 else 0,
                        "gpu_type": gpu_type,
                        "gpus": n,
                    }
                )
    return rows


def capacity_from_inventory(inventory: dict | None, cluster: str, day: str, threads: int | None = None) -> pa.Table:
    """CAPACITY_DAILY_SCHEMA rows for ``cluster`` on ``day`` (YYYY-MM-DD); empty for a missing inventory."""
    rows = _node_rows(inventory) if isinstance(inventory, dict) else []
    if not rows:
        return CAPACITY_DAILY_SCHEMA.empty_table()
    con = units.connect(threads)
    try:
        con.register("n", pa.Table.from_pylist(rows, schema=_NODE_SCHEMA))
        out = con.execute(
            """
            WITH per_type AS (
                SELECT "partition", gpu_type, sum(gpus) AS gpus FROM n WHERE gpu_type IS NOT NULL GROUP BY ALL
            ), types AS (
                SELECT "partition", string_agg(gpu_type || ':' || gpus, ',' ORDER BY gpu_type) AS gpu_types
                FROM per_type GROUP BY "partition"
            ), totals AS (
                SELECT "partition", count(DISTINCT node) AS nodes, sum(cpus) AS cpus, sum(mem_bytes) AS mem_bytes,
                       sum(gpus) AS gpus
                FROM n GROUP BY "partition"
            )
            SELECT ? AS cluster, CAST(? AS DATE) AS "date", "partition",
                CAST(nodes AS INTEGER) AS nodes, CAST(cpus AS BIGINT) AS cpus, CAST(mem_bytes AS BIGINT) AS mem_bytes,
                CAST(gpus AS BIGINT) AS gpus, coalesce(gpu_types, '') AS gpu_types,
                cpus * 24.0 AS cpu_hours_available, gpus * 24.0 AS gpu_hours_available
            FROM totals LEFT JOIN types USING ("partition")
            ORDER BY "partition"
            """,
            [cluster, day],
        ).to_arrow_table()
    finally:
        con.close()
    return with_schema(out.append_column("source", pa.array(["inventory"] * out.num_rows, pa.string())))


def with_schema(table: pa.Table) -> pa.Table:
    """``table`` with every CAPACITY_DAILY_SCHEMA column (missing ones NULL), in order and typed."""
    cols = [
        table[f.name] if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in CAPACITY_DAILY_SCHEMA
    ]
    return pa.table(cols, schema=CAPACITY_DAILY_SCHEMA)
