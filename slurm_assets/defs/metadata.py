"""Metadata shared by the assets: the column schema of a warehouse table, in Dagster's form."""

import dagster as dg

from slurm_assets.sacct.fields import TABLE_SCHEMAS


def column_schema(table: str) -> dict:
    """``{"dagster/column_schema": TableSchema}`` for a table in ``sacct/fields.py``."""
    columns = [dg.TableColumn(f.name, str(f.type)) for f in TABLE_SCHEMAS[table]]
    return {"dagster/column_schema": dg.TableSchema(columns=columns)}
