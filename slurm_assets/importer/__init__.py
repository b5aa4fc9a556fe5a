"""``python -m slurm_assets import``: existing history (sacct logs, the seed system's Parquet) -> drops."""
