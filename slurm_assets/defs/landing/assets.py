"""SSH pull: run the agent on each ssh-mode cluster's login node for the partition's days and land the drops."""

import dagster as dg

from slurm_assets.defs.partitions import daily_backfill_policy, daily_partitions
from slurm_assets.defs.resources import SshPullResource, StorageResource
from slurm_assets.pull.ssh import PullError


def landing_pull(context: dg.AssetExecutionContext, storage: StorageResource, ssh: SshPullResource):
    """Raw drops pulled over SSH for the ssh-mode clusters of the clusters file, one per cluster x UTC day.

    Push and drop-mode clusters land drops on their own; with no ssh-mode cluster this is a no-op.
    One SSH session per cluster covers the whole partition range. Every cluster is tried;
    failures are raised together afterwards with the remote stderr.
    """
    first, last = context.partition_keys[0], context.partition_keys[-1]
    by_cluster, errors = {}, []
    for cfg in ssh.ssh_clusters():
        try:
            landed = ssh.pull(cfg, first, last, storage.path())
        except (PullError, ValueError) as err:
            errors.append(str(err))
            continue
        by_cluster[cfg.name] = {
            "drops": len(landed),
            "new": sum(not d.duplicate for d in landed),
            "rows": sum(d.rows for d in landed),
        }
        context.log.info(f"{cfg.name}: {by_cluster[cfg.name]}")
    if errors:
        raise PullError("; ".join(errors))
    return dg.MaterializeResult(
        metadata={
            "ssh_clusters": len(by_cluster),
            "by_cluster": by_cluster,
            "first_day": first,
            "last_day": last,
            "note": "" if by_cluster else "no ssh-mode clusters configured (SLURM_USAGE_CLUSTERS_FILE)",
        }
    )


def landing_pull_asset() -> dg.AssetsDefinition:
    """``landing_pull`` on the partitions of the current ``SLURM_USAGE_FIRST_DAY``."""
    return dg.asset(
        partitions_def=daily_partitions(), backfill_policy=daily_backfill_policy, group_name="landing", kinds={"ssh"}
    )(landing_pull)


@dg.definitions
def defs() -> dg.Definitions:
    """This module's definitions (the autoloader takes only these), built at load, not import: the
    partitions start at ``SLURM_USAGE_FIRST_DAY``."""
    return dg.Definitions(assets=[landing_pull_asset()])
