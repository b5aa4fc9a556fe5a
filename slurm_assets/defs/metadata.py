"""Metadata shared by the assets: asset specs and column schemas of warehouse tables, from the catalogue."""

import dagster as dg

from slurm_assets.sacct.catalog import SPECS, TABLE_SCHEMAS, assets_of


def column_schema(table: str) -> dict:
    """``{"dagster/column_schema": TableSchema}`` for a table of the catalogue (``sacct/catalog.py``)."""
    columns = [dg.TableColumn(f.name, str(f.type)) for f in TABLE_SCHEMAS[table]]
    return {"dagster/column_schema": dg.TableSchema(columns=columns)}


def step_asset_specs(step: str, deps: list[str]) -> list[dg.AssetSpec]:
    """The asset specs of the tables a step materializes (catalogue order), each with its description and schema."""
    return [
        dg.AssetSpec(
            name,
            description=SPECS[name].description,
            deps=deps,
            group_name="warehouse",
            kinds={"parquet"},
            metadata=column_schema(name),
        )
        for name in assets_of(step)
    ]
