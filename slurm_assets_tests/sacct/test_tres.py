"""Protects the GPU rule of DESIGN.md: gres/gpu=N, else the typed sum; never gres/gpumem."""

import pytest

from slurm_assets.sacct.tres import gpus_from_tres


@pytest.mark.parametrize(
    "alloc_tres, alloc_gres, gpus, types",
    [
        ("billing=4,cpu=4,gres/gpu:a100=2,gres/gpu=2,mem=2G,node=1", None, 2, "a100:2"),  # typed + total (22.05)
        ("billing=1,cpu=1,gres/gpu:v100=1,gres/gpu=1,mem=256M,node=1", None, 1, "v100:1"),  # untyped request
        ("cpu=2,gres/gpu=3,mem=1G,node=1", None, 3, ""),  # untyped only
        ("gres/gpu:v100=1,gres/gpu:a100=1", None, 2, "a100:1,v100:1"),  # typed only: sum, sorted by type
        ("gres/gpu:a100_3g.20gb=1,gres/gpu=1,gres/gpumem=20G", None, 1, "a100_3g.20gb:1"),  # MIG type, gpumem
        ("cpu=1,gres/gpumem=40G,gres/gpuutil=50", None, 0, ""),  # gpumem/gpuutil are not GPUs
        ("cpu=1,gres/mps=100,gres/shard=2", None, 0, ""),  # MPS and shards are not GPUs
        ("billing=4,cpu=4,mem=1G,node=1", None, 0, ""),  # CPU job
        ("", None, 0, ""),  # never started
        (None, None, 0, ""),  # field missing
        ("gres/gpu=abc", None, 0, ""),  # unreadable count
        ("", "gpu:tesla:2(IDX:0-1)", 2, "tesla:2"),  # AllocGRES of old Slurm
        ("", "gpu:2", 2, ""),  # untyped AllocGRES
        ("cpu=1,gres/gpu=1", "gpu:tesla:4", 1, ""),  # AllocTRES wins over AllocGRES
    ],
)
def test_gpus_from_tres(alloc_tres, alloc_gres, gpus, types):
    out = gpus_from_tres([alloc_tres], [alloc_gres]).to_pylist()
    assert out == [{"alloc_gpus": gpus, "gpu_types": types}]
