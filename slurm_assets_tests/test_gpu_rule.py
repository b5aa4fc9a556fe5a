"""Protects the GPU rule of DESIGN.md ("Definitions") where it exists twice: the agent's ``tres_gpus`` (the
standalone file's dry-run summary and inventory) and the pipeline's ``sacct/tres.py``. One table of cases,
run against both: GPUs = ``gres/gpu=N``, else the sum of typed ``gres/gpu:TYPE=N``; never gpumem, gpuutil,
MPS or shards. (AllocGRES of old Slurm is the pipeline's alone: sacct/test_tres.py.)"""

import pytest

from slurm_assets.sacct.tres import gpus_from_tres
from slurm_assets_tests.agent.conftest import load_agent

# AllocTRES -> (GPUs, {type: GPUs})
GPU_CASES = [
    ("billing=4,cpu=4,gres/gpu:a100=2,gres/gpu=2,mem=2G,node=1", 2, {"a100": 2}),  # typed + total (22.05)
    ("billing=1,cpu=1,gres/gpu:v100=1,gres/gpu=1,mem=256M,node=1", 1, {"v100": 1}),  # untyped request, typed record
    ("cpu=2,gres/gpu=3,mem=1G,node=1", 3, {}),  # untyped only
    ("cpu=32,gres/gpu:v100=1,mem=32G", 1, {"v100": 1}),  # typed only
    ("gres/gpu:v100=1,gres/gpu:a100=1", 2, {"a100": 1, "v100": 1}),  # two types, no total: the sum
    ("gres/gpu:a100=2,gres/gpu:v100=1", 3, {"a100": 2, "v100": 1}),
    ("gres/gpu:a100_3g.20gb=1,gres/gpu=1,gres/gpumem=20G", 1, {"a100_3g.20gb": 1}),  # MIG type, gpumem
    ("gres/gpu:a100=1,gres/gpu=1,gres/gpumem=40G,gres/gpuutil=50", 1, {"a100": 1}),  # gpumem is not a GPU
    ("cpu=1,gres/gpumem=40G,gres/gpuutil=50", 0, {}),  # gpumem/gpuutil alone: no GPUs
    ("gres/gpumem=40G", 0, {}),
    ("cpu=1,gres/mps=100,gres/shard=2", 0, {}),  # MPS and shards are not GPUs
    ("billing=4,cpu=4,mem=1G,node=1", 0, {}),  # CPU job
    ("gres/gpu=abc", 0, {}),  # unreadable count
    ("", 0, {}),  # never started
]


@pytest.fixture(scope="module")
def agent():
    return load_agent()


@pytest.mark.parametrize(("alloc_tres", "gpus", "types"), GPU_CASES)
def test_the_agent_counts_gpus_by_the_rule(agent, alloc_tres, gpus, types):
    assert agent.tres_gpus(alloc_tres) == (gpus, types)


@pytest.mark.parametrize(("alloc_tres", "gpus", "types"), GPU_CASES)
def test_the_pipeline_counts_gpus_by_the_rule(alloc_tres, gpus, types):
    expected = ",".join(f"{t}:{n}" for t, n in sorted(types.items()))
    assert gpus_from_tres([alloc_tres]).to_pylist() == [{"alloc_gpus": gpus, "gpu_types": expected}]
