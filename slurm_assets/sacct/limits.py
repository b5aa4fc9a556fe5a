"""Physical ranges: the largest values a real cluster, node or job can carry (issue 18).

A value outside these ranges is not data but damage or an attack (a cluster key holder sending
``cpus: 2**53`` for 1,100 nodes overflowed 64-bit sums and stopped every cluster's run). The
receiver refuses such manifests (``storage/manifest_check.py``); the pipeline quarantines such
sacct lines. Both import the numbers from here, so there is one definition.

The bounds are generous (10-100x today's largest machines) yet small enough that every sum the
pipeline makes fits a signed 64-bit integer: all nodes of a cluster x the per-node maximum, and
one job's CPUs x its longest duration in seconds.
"""

INT64_MAX = 2**63 - 1

# One cluster (an inventory, or a job spanning the whole machine).
NODES_MAX = 100_000  # the largest systems have ~10^4 nodes
PARTITIONS_PER_NODE_MAX = 1_024
GPU_TYPES_PER_NODE_MAX = 64

# One node.
CPUS_PER_NODE_MAX = 16_384  # today: a few hundred cores x SMT
GPUS_PER_NODE_MAX = 1_024  # today: 4-16
MEM_BYTES_PER_NODE_MAX = 2**46  # 64 TiB; today: a few TiB

# One job (the whole machine at most).
JOB_CPUS_MAX = NODES_MAX * CPUS_PER_NODE_MAX
JOB_GPUS_MAX = NODES_MAX * GPUS_PER_NODE_MAX
JOB_MEM_BYTES_MAX = NODES_MAX * MEM_BYTES_PER_NODE_MAX
DURATION_S_MAX = 20 * 366 * 86_400  # elapsed, time limit, CPU time per CPU: 20 years

# Text in a manifest (names, versions, states): long enough for any real value, short enough that
# a manifest line (<= landing.MAX_MANIFEST_BYTES) cannot hide megabytes in one string.
NAME_CHARS_MAX = 256
FIELDS_MAX = 512  # sacct --helpformat lists ~120 fields
ASSOCIATIONS_MAX = 200_000  # sacctmgr association or coordinator entries of one cluster
COUNT_MAX = 2**40  # rows and bytes of one drop (manifest rows, gzip_size)
# slurmdbd's capacity section (sreport TRES-seconds of one window of at most two days; events of it).
TRES_SECONDS_MAX = JOB_CPUS_MAX * 2 * 86_400  # every CPU of the largest cluster for two days (~2^48)
EVENTS_MAX = 10_000  # sacctmgr events of one window (the agent keeps the first 10,000)
TRES_CHARS_MAX = 1_024  # an event's TRES text (the agent keeps cpu, mem, node and gres/gpu entries)
# The largest sacct text of one drop: the receiver's default SLURM_USAGE_MAX_TEXT_BYTES, and what the pipeline
# processes (in pieces, pipeline/bigdrops.py) within its batch memory budget; a bigger landed drop is
# quarantined whole (too_large). docs/PIPELINE.md "Big drops".
MAX_DROP_TEXT_BYTES = 2**30

# Every cluster-wide sum of node values fits int64 (capacity_daily sums nodes per partition).
assert NODES_MAX * MEM_BYTES_PER_NODE_MAX < INT64_MAX
assert JOB_CPUS_MAX * DURATION_S_MAX < INT64_MAX  # CPU-seconds of one job
assert JOB_GPUS_MAX * DURATION_S_MAX < INT64_MAX
