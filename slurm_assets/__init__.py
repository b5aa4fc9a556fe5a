"""slurm-usage-history: SLURM accounting drops -> validated Parquet/DuckDB tables -> dashboard."""

__version__ = "0.1.0"
