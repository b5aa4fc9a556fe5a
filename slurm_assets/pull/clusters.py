"""The cluster config file (YAML, path in env ``SLURM_USAGE_CLUSTERS_FILE``): which clusters exist, how each ships.

    clusters:
      - name: alpha            # the cluster name the agent writes into its drops
        mode: ssh              # push | drop | ssh (only ssh clusters are pulled by Dagster)
        host: login.alpha.example.org
        port: 22
        user: slurmusage
        key_path: /etc/slurm-usage/alpha_ed25519        # private key; key auth only
        known_hosts: /etc/slurm-usage/known_hosts       # the host key MUST be in here...
        allow_unknown_host_key: false                   # ...unless allowed: trust on first use (DATA_DIR/state/ssh_known_hosts)
        remote_python: python3
        sacct: /usr/bin/sacct                           # optional: passed to the agent as --sacct
        agent_path: /opt/slurm-usage/agent.py           # optional: local agent file to pipe (default: agent/)
        connect_timeout_s: 20
        command_timeout_s: 900

Parsing is pure (``parse_clusters``); ``load_clusters`` reads the file.
"""

from dataclasses import dataclass
from pathlib import Path

import yaml

from slurm_assets.storage import paths

MODES = ("push", "drop", "ssh")


class ClusterConfigError(ValueError):
    """The clusters file is malformed; the message names the file, cluster and key."""


@dataclass(frozen=True)
class ClusterConfig:
    """One cluster's shipping mode and, for ``ssh`` mode, how to reach its login node."""

    name: str
    mode: str
    host: str = ""
    port: int = 22
    user: str = ""
    key_path: str = ""
    known_hosts: str = ""
    allow_unknown_host_key: bool = False
    remote_python: str = "python3"
    sacct: str = ""
    agent_path: str = ""  # local file piped to the remote python; "" = the resource's (the repository's agent)
    connect_timeout_s: float = 20.0
    command_timeout_s: float = 900.0


_TYPES = {
    "name": str,
    "mode": str,
    "host": str,
    "port": int,
    "user": str,
    "key_path": str,
    "known_hosts": str,
    "allow_unknown_host_key": bool,
    "remote_python": str,
    "sacct": str,
    "agent_path": str,
    "connect_timeout_s": (int, float),
    "command_timeout_s": (int, float),
}
_SSH_REQUIRED = ("host", "user", "key_path", "known_hosts")


def parse_clusters(doc: object, source: str = "<clusters file>") -> list[ClusterConfig]:
    """Validate a parsed YAML document (``{"clusters": [...]}``) into ClusterConfig objects.

    Raises ClusterConfigError naming ``source``, the cluster and the bad key.
    """
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("clusters", []), list):
        raise ClusterConfigError(f"{source}: expected a mapping with a 'clusters:' list")
    found: list[ClusterConfig] = []
    for i, entry in enumerate(doc.get("clusters") or []):
        where = f"{source}: clusters[{i}]"
        if not isinstance(entry, dict):
            raise ClusterConfigError(f"{where}: expected a mapping, got {type(entry).__name__}")
        unknown = sorted(set(entry) - set(_TYPES))
        if unknown:
            raise ClusterConfigError(f"{where}: unknown keys {unknown}; allowed: {sorted(_TYPES)}")
        for key, value in entry.items():
            types = _TYPES[key]
            if not isinstance(value, types) or (isinstance(value, bool) and types is not bool):
                raise ClusterConfigError(f"{where}: {key}={value!r} has the wrong type")
        try:
            paths.check_cluster_name(entry.get("name"))
        except paths.InvalidNameError as err:
            raise ClusterConfigError(f"{where}: {err}") from err
        where = f"{source}: cluster {entry['name']!r}"
        if entry.get("mode") not in MODES:
            raise ClusterConfigError(f"{where}: mode={entry.get('mode')!r}, expected one of {', '.join(MODES)}")
        if entry["mode"] == "ssh":
            missing = [k for k in _SSH_REQUIRED if not entry.get(k)]
            if missing:
                raise ClusterConfigError(f"{where}: ssh mode needs {', '.join(missing)}")
        if entry["name"] in {c.name for c in found}:
            raise ClusterConfigError(f"{where}: listed twice")
        found.append(ClusterConfig(**entry))
    return found


def load_clusters(path: Path | None) -> list[ClusterConfig]:
    """Read and validate the clusters file; no file configured means no clusters."""
    if path is None:
        return []
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ClusterConfigError(f"cannot read clusters file {path}: {err}; set SLURM_USAGE_CLUSTERS_FILE") from err
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ClusterConfigError(f"clusters file {path} is not valid YAML: {err}") from err
    return parse_clusters(doc, str(path))
