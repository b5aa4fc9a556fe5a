"""The resources every asset uses, bound once: ``storage`` (DATA_DIR) and ``ssh`` (pull-mode clusters).

Values come from the environment when a run starts (``settings``), never at import:
``SLURM_USAGE_DATA_DIR`` and ``SLURM_USAGE_CLUSTERS_FILE``. Both can be overridden in
run config (``resources: {storage: {config: {data_dir: ...}}}``).
"""

from pathlib import Path

import dagster as dg

from slurm_assets import settings
from slurm_assets.pull import clusters as cluster_config
from slurm_assets.pull import ssh
from slurm_assets.storage import fs

# The agent ships in the repository next to the package (agent/, one file).
DEFAULT_AGENT = Path(__file__).resolve().parents[2] / "agent" / "slurm-usage-history-exporter.py"


class StorageResource(dg.ConfigurableResource):
    """Where the landing zone, warehouse Parquet and DuckDB file live (a folder or ``s3://bucket/prefix``);
    empty = ``SLURM_USAGE_DATA_DIR``."""

    data_dir: str = ""
    duckdb_threads: int = 0  # DuckDB threads of the run's steps; 0 = decided per run (defs/threads.py)

    def path(self) -> Path:
        return fs.resolve(self.data_dir) if self.data_dir else settings.data_dir()


class SshPullResource(dg.ConfigurableResource):
    """Pull-mode clusters from the clusters YAML (empty = ``SLURM_USAGE_CLUSTERS_FILE``) and the agent to run."""

    clusters_file: str = ""
    agent_path: str = ""

    def clusters(self) -> list[cluster_config.ClusterConfig]:
        path = Path(self.clusters_file) if self.clusters_file else settings.clusters_file()
        return cluster_config.load_clusters(path)

    def ssh_clusters(self) -> list[cluster_config.ClusterConfig]:
        return [c for c in self.clusters() if c.mode == "ssh"]

    def agent_source(self, cluster_agent_path: str = "") -> bytes:
        path = Path(cluster_agent_path or self.agent_path or DEFAULT_AGENT)
        try:
            return path.read_bytes()
        except OSError as err:
            raise ssh.PullError(
                f"cannot read the agent file {path}: {err}; set agent_path on the cluster or the ssh resource"
            ) from err

    def pull(
        self, cfg: cluster_config.ClusterConfig, start_date: str, end_date: str, data_dir: Path
    ) -> list[ssh.LandedDrop]:
        return ssh.pull_cluster(cfg, self.agent_source(cfg.agent_path), start_date, end_date, data_dir)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"storage": StorageResource(), "ssh": SshPullResource()})
