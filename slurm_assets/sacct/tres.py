"""AllocTRES -> GPU count and GPU types (DESIGN.md "Definitions"), as DuckDB SQL over whole columns.

Rule: the GPU count is ``gres/gpu=N`` if present, else the sum of the typed
``gres/gpu:TYPE=N`` entries; ``gres/gpumem``, ``gres/gpuutil``, ``gres/mps`` and
``gres/shard`` are never GPUs. ``gpu_types`` lists the typed entries sorted by
type (``a100:2,v100:1``; MIG types like ``a100_3g.20gb`` are types too), ``''``
when there are none. Slurm <= 20.x jobs may only have ``AllocGRES``
(``gpu:2``, ``gpu:tesla:2(IDX:0-1)``), read the same way where AllocTRES has no GPU.
"""

import pyarrow as pa

from slurm_assets.sacct import units

# Typed entries ("a100=2" out of "gres/gpu:a100=2") and the untyped total of a TRES string.
# Counts of any length: one past the physical range is quarantined (``sql_gpu_total``), never read as 0.
_TRES_TYPED = r"(?:^|,)gres/gpu:([^=,]+=\d+)"
_TRES_UNTYPED = r"(?:^|,)gres/gpu=(\d+)(?:,|$)"
# AllocGRES: gpu:2, gpu:tesla:2, gpu:tesla:2(IDX:0-1), comma separated.
_GRES_TYPED = r"(?:^|,)gpu:([^:,()=]+:\d+)"
_GRES_UNTYPED = r"(?:^|,)gpu:(\d+)(?:\(|,|$)"


def sql_gpu_parts(tres: str, gres: str) -> str:
    """Struct {typed: ['a100:2', ...] sorted, untyped: DOUBLE or NULL} from TRES (else GRES) strings.

    Cheap for rows without GPUs: the regexes only run where the text mentions a GPU.
    """
    tres, gres = f"coalesce({tres}, '')", f"coalesce({gres}, '')"
    return f"""CASE
        WHEN contains({tres}, 'gres/gpu') AND regexp_matches({tres}, '(?:^|,)gres/gpu[:=]') THEN {{
            'typed': list_sort(list_transform(regexp_extract_all({tres}, '{_TRES_TYPED}', 1),
                                              lambda e: replace(e, '=', ':'))),
            'untyped': TRY_CAST(nullif(regexp_extract({tres}, '{_TRES_UNTYPED}', 1), '') AS DOUBLE)}}
        WHEN contains({gres}, 'gpu') THEN {{
            'typed': list_sort(regexp_extract_all({gres}, '{_GRES_TYPED}', 1)),
            'untyped': TRY_CAST(nullif(regexp_extract({gres}, '{_GRES_UNTYPED}', 1), '') AS DOUBLE)}}
        END"""


def sql_gpu_total(parts: str) -> str:
    """GPUs (DOUBLE, never overflows; 0 when none) from a sql_gpu_parts struct: untyped total, else the typed sum."""
    typed_sum = (
        f"list_sum(list_transform({parts}.typed, lambda e: TRY_CAST(regexp_extract(e, ':(\\d+)$', 1) AS DOUBLE)))"
    )
    return f"coalesce({parts}.untyped, {typed_sum}, 0)"


def sql_gpu_count(parts: str) -> str:
    """GPUs (INTEGER) from a sql_gpu_parts struct; NULL past 2^31 (the parser quarantines such rows first)."""
    return f"CASE WHEN {sql_gpu_total(parts)} < 2147483648 THEN CAST({sql_gpu_total(parts)} AS INTEGER) END"


def sql_gpu_types(parts: str) -> str:
    """``'a100:2,v100:1'`` (or ``''``) from a sql_gpu_parts struct."""
    return f"coalesce(array_to_string({parts}.typed, ','), '')"


def gpus_from_tres(alloc_tres: pa.Array | list, alloc_gres: pa.Array | list | None = None) -> pa.Table:
    """AllocTRES (and optional AllocGRES) strings -> table(alloc_gpus int32, gpu_types string).

    No GPUs, empty or unreadable strings give 0 and ``''``.
    """
    tres = pa.array(alloc_tres, pa.string())
    gres = pa.array(alloc_gres if alloc_gres is not None else [None] * len(tres), pa.string())
    con = units.connect()
    try:
        con.register("v", pa.table({"tres": tres, "gres": gres}))
        sql = (
            f"SELECT {sql_gpu_count('p')} AS alloc_gpus, {sql_gpu_types('p')} AS gpu_types "
            f"FROM (SELECT {sql_gpu_parts('tres', 'gres')} AS p FROM v)"
        )
        return con.execute(sql).to_arrow_table()
    finally:
        con.close()
