"""What two runs over the same drops must agree on: every warehouse Parquet file, on disk or in a bucket.

A monthly compact (``_monthly/``, storage/compact.py) is named by the stats (mtimes) of the daily files it was
made of, which differ between two runs, and records them: it is keyed by its folder (table, cluster, month)
and compared by its rows. Every other file is compared byte for byte."""

import pyarrow.parquet as pq

from slurm_assets.storage import fs, paths, tree


def warehouse_files(data_dir) -> dict:
    """``{path below warehouse/: bytes}`` (a compact: ``{its folder: rows}``) of every warehouse Parquet file."""
    folder = paths.warehouse_root(data_dir)
    base = tree.location(folder) + "/"
    out = {}
    for f in sorted(tree.file_stats(folder, ".parquet")):
        rel = f[len(base) :]
        if rel.startswith(paths.MONTHLY_DIR + "/"):
            with fs.open_binary(fs.root(f)) as fh:
                out[rel.rsplit("/", 1)[0]] = pq.read_table(fh).replace_schema_metadata(None).to_pylist()
        else:
            out[rel] = fs.root(f).read_bytes()
    return out
