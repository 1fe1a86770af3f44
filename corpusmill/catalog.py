"""The DuckDB catalog: one file in the home whose views read every Delta table and version.

DuckDB's delta extension cannot be downloaded here, so each view reads the Parquet files of a Delta
version with ``read_parquet([...])``. Which views exist and which folders they read comes from
:mod:`corpusmill.layout`. A refresh edits a copy of the catalog and swaps it in with an atomic
rename, so readers never see a half-written catalog and never block the writer; a lock file
serialises concurrent refreshes. A writer refreshes only the views of the tables it wrote.

Readers query it through :mod:`corpusmill.sandbox`; the refresh (the writer) is not sandboxed.

The views name the Parquet files by absolute path (DuckDB's sandbox checks ``allowed_directories``
before it would resolve a relative path through ``file_search_path``), so the catalog records the
lake it was built over (the :data:`LAKE_ROOT_MACRO` macro). A home that was moved (or copied) is
detected on connect and its catalog rebuilt over the new lake (:func:`built_for`); a partial refresh
of a moved home rebuilds every view.

A lake on object storage (``s3://``) cannot be read by DuckDB here (the httpfs extension cannot be
downloaded), so there the catalog holds no views over its files: the table :data:`DATASETS`
lists, per view, the Parquet files and their unified Arrow schema, and :func:`register_datasets`
registers each as a pyarrow dataset on the reader's connection (see :mod:`corpusmill.sandbox`).
Empty tables and ``corpus_versions`` are in the catalog itself, as for a local lake.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from corpusmill import canonical, lake, storage, versions
from corpusmill.corpora import CORPORA
from corpusmill.faults import crash_point
from corpusmill.layout import Lake
from corpusmill.locks import file_lock

if TYPE_CHECKING:
    import duckdb

    from corpusmill.home import Home

#: Tables that always have a view, even before anything wrote them (empty, with their schema).
ALWAYS: dict[str, pl.Schema] = {
    **{t: canonical.schema(t) for t in canonical.TABLES},
    "quarantine": pl.Schema(canonical.QUARANTINE),
}

CORPUS_VERSIONS = "corpus_versions"

#: For a lake on object storage: view name -> its Parquet files and Arrow schema (IPC bytes).
DATASETS = "_corpusmill_datasets"

#: A macro in the catalog returning the absolute lake folder its views read.
LAKE_ROOT_MACRO = "corpusmill_lake_root"
_CV_SCHEMA = {
    "corpus": pl.String, "version": pl.Int64, "view": pl.String, "content_hash": pl.String,
    "config_hash": pl.String, "rows": pl.Int64, "code_version": pl.String,
    "created_at": pl.String, "inputs": pl.String, "manifest": pl.String,
}  # fmt: skip


def refresh(home: Home, tables: Iterable[str] | None = None) -> list[str]:
    """Bring the catalog up to date with the lake; returns the view names (re)built.

    Parameters
    ----------
    tables
        The view names whose tables were written (``sensor_readings``, ``staged_<source>``,
        ``quarantine`` ...): only those views are rebuilt, and for a corpus its version views and
        its rows of ``corpus_versions``. ``None`` (or no catalog yet) rebuilds every view.
    """
    import duckdb

    with file_lock(home.root / ".catalog.lock"):
        # under the lock no other refresh is writing: any copy left is a killed refresh's
        for stale in home.root.glob(f".{home.catalog.name}.*.tmp*"):
            stale.unlink(missing_ok=True)
        tmp = home.catalog.with_name(f".{home.catalog.name}.{os.getpid()}.tmp")
        whole = tables is None or not home.catalog.exists() or not built_for(home)
        try:
            if not whole:
                shutil.copyfile(home.catalog, tmp)
            con = duckdb.connect(str(tmp))
            try:
                names = _build(con, Lake(home.lake), None if whole else set(tables or ()))
                root = storage.display(home.lake).replace("'", "''")
                con.execute(f"CREATE OR REPLACE MACRO {LAKE_ROOT_MACRO}() AS '{root}'")
                con.execute("CHECKPOINT")
            finally:
                con.close()
            crash_point("catalog.replace.before", home.catalog)
            os.replace(tmp, home.catalog)
        finally:
            tmp.unlink(missing_ok=True)
            Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return names


def built_for(home: Home) -> bool:
    """Whether the catalog's views read this home's lake (False after the home was moved, or for
    a catalog that predates the record)."""
    import duckdb

    if not home.catalog.exists():
        return False
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH '{str(home.catalog).replace(chr(39), chr(39) * 2)}' AS c (READ_ONLY)")
        rows = con.execute(
            "SELECT 1 FROM duckdb_functions() WHERE database_name = 'c' AND function_name = ?",
            [LAKE_ROOT_MACRO],
        ).fetchall()
        if not rows:
            return False
        (root,) = con.execute(f"SELECT c.main.{LAKE_ROOT_MACRO}()").fetchone() or (None,)
    finally:
        con.close()
    return root == storage.display(home.lake)


def _build(con: duckdb.DuckDBPyConnection, at: Lake, only: set[str] | None) -> list[str]:
    """Create the views in ``only`` (every view when None), replacing what the catalog had."""

    def wanted(name: str) -> bool:
        return only is None or name in only

    names: list[str] = []
    if storage.is_remote(at.root):
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {DATASETS} (name VARCHAR, files VARCHAR[], schema BLOB)"
        )
    singles = at.views(CORPORA)
    for name, path in singles.items():
        if wanted(name):
            _drop(con, name)
            _view(con, name, lake.files(path), lake.open_table(path).schema().to_arrow())
            names.append(name)
    for name, parts in at.unions().items():
        if not wanted(name):
            continue
        files = [f for p in parts for f in lake.files(p)]
        if files:
            _drop(con, name)
            _view(con, name, files, None)
            names.append(name)
    for name, schema in ALWAYS.items():
        if wanted(name) and name not in names:
            _drop(con, name)
            _empty(con, name, schema)
            names.append(name)
    corpora = [c for c in CORPORA if c in singles and wanted(c)]
    if only is None or corpora:
        names += _versions(con, at, corpora, replace_all=only is None)
    return names


def _versions(
    con: duckdb.DuckDBPyConnection, at: Lake, corpora: list[str], *, replace_all: bool
) -> list[str]:
    """A view per corpus version, and those corpora's rows of ``corpus_versions``."""
    names, rows = [], []
    for name in corpora:
        path = at.table(name)
        for m in versions.manifests(path):
            v = m["version"]
            vname = f"{name}_v{v}"
            _drop(con, vname)
            _view(con, vname, lake.files(path, version=v), None)
            names.append(vname)
            rows.append(
                {
                    "corpus": name, "version": v, "view": vname,
                    "content_hash": m["content_hash"], "config_hash": m["config_hash"],
                    "rows": m["rows"], "code_version": m["code_version"],
                    "created_at": m["created_at"],
                    "inputs": json.dumps(m["inputs"], sort_keys=True),
                    "manifest": json.dumps(m, sort_keys=True, default=str),
                }
            )  # fmt: skip
    fresh = pl.DataFrame(rows, schema=_CV_SCHEMA)
    if not replace_all and _kind(con, CORPUS_VERSIONS) == "BASE TABLE":
        kept = con.sql(f"SELECT * FROM {CORPUS_VERSIONS}").pl().cast(_CV_SCHEMA)
        fresh = pl.concat([kept.filter(~pl.col("corpus").is_in(corpora)), fresh])
    _drop(con, CORPUS_VERSIONS)
    con.register("_cv", fresh.to_arrow())
    con.execute(f"CREATE TABLE {CORPUS_VERSIONS} AS SELECT * FROM _cv ORDER BY corpus, version")
    con.unregister("_cv")
    return [*names, CORPUS_VERSIONS]


def _kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """``VIEW``, ``BASE TABLE`` or None: what the catalog holds under ``name``."""
    row = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return row[0][0] if row else None


def _drop(con: duckdb.DuckDBPyConnection, name: str) -> None:
    kind = _kind(con, name)
    if kind is not None:
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {quote_ident(name)}")
    if _kind(con, DATASETS) is not None:
        con.execute(f"DELETE FROM {DATASETS} WHERE name = ?", [name])


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _view(con: duckdb.DuckDBPyConnection, name: str, files: list[str], arrow_schema) -> None:
    if not files:
        empty = arrow_schema.empty_table() if arrow_schema is not None else None
        if empty is None:
            return
        con.register("_empty", empty)
        con.execute(f"CREATE TABLE {quote_ident(name)} AS SELECT * FROM _empty")
        con.unregister("_empty")
        return
    if storage.is_remote(files[0]):
        _dataset(con, name, files)
        return
    file_list = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(
        f"CREATE VIEW {quote_ident(name)} AS SELECT * FROM read_parquet([{file_list}], "
        "union_by_name = true)"
    )


def _empty(con: duckdb.DuckDBPyConnection, name: str, schema: pl.Schema) -> None:
    con.register("_empty", pl.DataFrame(schema=schema).to_arrow())
    con.execute(f"CREATE TABLE {quote_ident(name)} AS SELECT * FROM _empty")
    con.unregister("_empty")


def _dataset(con: duckdb.DuckDBPyConnection, name: str, files: list[str]) -> None:
    """Record a view over Parquet files on object storage (registered by readers at connect).

    The schema unifies the Parquet schemas of the files (as ``read_parquet(union_by_name)`` would);
    it is read once here, so a reader opens no file until it queries.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, _ = storage.filesystem(files[0])
    schemas, seen = [], set()
    for f in files:
        schema = pq.read_schema(storage.fs_path(f), filesystem=fs)
        key = schema.to_string(show_schema_metadata=False)
        if key not in seen:
            seen.add(key)
            schemas.append(schema.remove_metadata())
    unified = pa.unify_schemas(schemas, promote_options="permissive")
    con.execute(
        f"INSERT INTO {DATASETS} VALUES (?, ?, ?)", [name, files, unified.serialize().to_pybytes()]
    )


def register_datasets(con: duckdb.DuckDBPyConnection, catalog: str = "catalog") -> list[str]:
    """Register every dataset view of an object-storage catalog on ``con`` (read-only pyarrow
    datasets over exactly the files the view lists); returns their names.

    No file is opened here: each dataset is made from its file list and stored schema.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    has = con.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_catalog = ? AND table_name = ?",
        [catalog, DATASETS],
    ).fetchall()
    if not has:
        return []
    rows = con.execute(f"SELECT name, files, schema FROM {catalog}.main.{DATASETS}").fetchall()
    names = []
    for name, files, schema_bytes in rows:
        fs, _ = storage.filesystem(files[0])
        schema = pa.ipc.read_schema(pa.py_buffer(schema_bytes))
        dataset = ds.FileSystemDataset.from_paths(
            [storage.fs_path(f) for f in files], schema=schema, format=ds.ParquetFileFormat(),
            filesystem=fs,
        )  # fmt: skip
        con.register(name, dataset)
        names.append(name)
    return names
