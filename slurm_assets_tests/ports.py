"""A free TCP port on loopback, for tests that start real servers (the demo stack's helper, one implementation)."""

from slurm_assets.demo.services import free_port

__all__ = ["free_port"]
