"""Protects the GPU rule of DESIGN.md for what only the pipeline reads: a missing field and AllocGRES of old Slurm."""

import pytest

from slurm_assets.sacct.tres import gpus_from_tres


@pytest.mark.parametrize(
    "alloc_tres, alloc_gres, gpus, types",
    [
        # AllocTRES alone: the table of cases shared with the agent (slurm_assets_tests/test_gpu_rule.py)
        (None, None, 0, ""),  # field missing
        ("", "gpu:tesla:2(IDX:0-1)", 2, "tesla:2"),  # AllocGRES of old Slurm
        ("", "gpu:2", 2, ""),  # untyped AllocGRES
        ("cpu=1,gres/gpu=1", "gpu:tesla:4", 1, ""),  # AllocTRES wins over AllocGRES
    ],
)
def test_gpus_from_tres(alloc_tres, alloc_gres, gpus, types):
    out = gpus_from_tres([alloc_tres], [alloc_gres]).to_pylist()
    assert out == [{"alloc_gpus": gpus, "gpu_types": types}]
