"""Protects the table catalogue (sacct/catalog.py): the Dagster asset specs, the jobs' selections, the DuckDB
views and the dashboard's table list all derive from it, and a new spec alone shows up in each of them."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from slurm_assets.definitions import defs as load_defs
from slurm_assets.sacct import catalog
from slurm_assets.storage import warehouse

ROOT = Path(__file__).resolve().parents[1]


def test_specs_are_consistent():
    names = [spec.name for spec in catalog.TABLES]
    assert len(names) == len(set(names))
    for spec in catalog.TABLES:
        assert spec.step in catalog.STEPS and spec.partitioning in (catalog.DAILY, catalog.SNAPSHOT), spec.name
        assert spec.description and set(spec.sort_key) <= set(spec.schema.names), spec.name
        assert "cluster" in spec.schema.names, spec.name  # every file holds its cluster (DESIGN.md "Storage")
        if spec.written_with:  # written by the step of an asset of its own, with the same layout
            owner = catalog.SPECS[spec.written_with]
            assert not owner.written_with and (owner.step, owner.partitioning) == (spec.step, spec.partitioning)
    assert catalog.TABLE_SCHEMAS == {s.name: s.schema for s in catalog.TABLES}


def test_asset_specs_and_job_selections_come_from_the_catalogue():
    defs = load_defs()
    graph = defs.resolve_asset_graph()
    for spec in catalog.TABLES:
        key = dg.AssetKey(spec.name)
        if spec.written_with:
            assert not graph.has(key), spec.name
            continue
        node = graph.get(key)
        assert node.description == spec.description, spec.name
        columns = node.metadata["dagster/column_schema"].columns
        assert [(c.name, c.type) for c in columns] == [(f.name, str(f.type)) for f in spec.schema], spec.name
        assert (node.partitions_def is not None) == (spec.partitioning == catalog.DAILY), spec.name
        op_name = node.assets_def.node_def.name  # the producing step
        assert op_name == spec.step, spec.name
    daily_job = defs.resolve_job_def("daily_tables_job")
    assert {k.to_user_string() for k in daily_job.asset_layer.selected_asset_keys} == set(catalog.daily_assets())
    warehouse_job = defs.resolve_job_def("warehouse_job")
    assert {k.to_user_string() for k in warehouse_job.asset_layer.selected_asset_keys} == {
        *catalog.snapshot_tables(),
        "warehouse_duckdb",
        "monthly_compacts",
    }
    duckdb_deps = {k.to_user_string() for k in graph.get(dg.AssetKey("warehouse_duckdb")).parent_keys}
    assert duckdb_deps == set(catalog.asset_tables())


def test_duckdb_views_and_dashboard_tables_come_from_the_catalogue(tmp_path):
    con = warehouse.connect_readonly(tmp_path)  # an empty warehouse: every view exists, typed
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert views == set(catalog.TABLE_SCHEMAS)
    for name, schema in catalog.TABLE_SCHEMAS.items():
        assert con.execute(f'SELECT * FROM "{name}"').arrow().schema.names == schema.names, name
    from slurm_assets.storage import dashboard_store

    assert dashboard_store.MEMORY_TABLES == catalog.dashboard_tables()
    store = dashboard_store.Store(tmp_path).load()
    copied = {
        r[0]
        for r in store.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'mem' AND table_name NOT LIKE '\\_%' ESCAPE '\\'"
        ).fetchall()
    }
    assert copied == set(catalog.dashboard_tables())
    for name in (*catalog.dashboard_tables(), "jobs"):  # each answers queries under its own name (jobs: a view)
        names = store.execute(f'SELECT * FROM "{name}"').arrow().schema.names
        assert names[: len(catalog.TABLE_SCHEMAS[name])] == catalog.TABLE_SCHEMAS[name].names, name


_NEW_TABLE = """
import json, sys
import pyarrow as pa
from slurm_assets.sacct import catalog
spec = catalog.TableSpec("widgets", pa.schema([("cluster", pa.string()), ("date", pa.date32()), ("n", pa.int64())]),
                         "A table added by a spec alone.", catalog.DAY_STEP, catalog.DAILY, ("n",))
catalog.TABLES += (spec,)
catalog.SPECS[spec.name] = spec
catalog.TABLE_SCHEMAS[spec.name] = spec.schema
from slurm_assets.definitions import defs
from slurm_assets.storage import dashboard_store, warehouse
d = defs()
job = d.resolve_job_def("daily_tables_job")
con = warehouse.connect_readonly(sys.argv[1])
print(json.dumps({
    "asset": d.resolve_asset_graph().get(__import__("dagster").AssetKey("widgets")).description,
    "in_daily_job": "widgets" in {k.to_user_string() for k in job.asset_layer.selected_asset_keys},
    "view": con.execute("SELECT * FROM widgets").arrow().schema.names,
    "dashboard": "widgets" in dashboard_store.MEMORY_TABLES,
}))
"""


def test_a_new_spec_alone_adds_the_asset_job_view_and_dashboard_table(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", _NEW_TABLE, str(tmp_path)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {
        "asset": "A table added by a spec alone.",
        "in_daily_job": True,
        "view": ["cluster", "date", "n"],
        "dashboard": True,
    }


@pytest.mark.parametrize("step", catalog.STEPS)
def test_tables_of_each_step(step):
    assert set(catalog.assets_of(step)) <= set(catalog.tables_of(step))
    with pytest.raises(ValueError, match="unknown step"):
        catalog.tables_of("nope")
    assert isinstance(catalog.TABLE_SCHEMAS[catalog.tables_of(step)[0]], pa.Schema)


def test_report_assets_come_from_the_catalogue():
    """A report is an artefact, not a table (no schema, no view, no dashboard copy), but its asset derives
    from the catalogue: name, description, partitioning, and deps on the assets writing the tables it reads."""
    graph = load_defs().resolve_asset_graph()
    for spec in catalog.REPORTS:
        assert spec.name not in catalog.SPECS and spec.partitioning == catalog.MONTHLY
        assert set(spec.reads) <= set(catalog.SPECS) and spec.folder
        node = graph.get(dg.AssetKey(spec.name))
        assert node.description == spec.description
        assert isinstance(node.partitions_def, dg.MonthlyPartitionsDefinition)
        assert {k.to_user_string() for k in node.parent_keys} == set(spec.deps)
    assert catalog.REPORT_SPECS["monthly_reports"].deps == ("drops", "gpu_usage_daily", "jobs", "usage_daily")
