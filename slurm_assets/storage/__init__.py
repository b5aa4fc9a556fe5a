"""Files on disk: landing zone, warehouse Parquet, DuckDB. No Dagster imports."""
