"""The DuckDB catalog: one file in the home whose views read every Delta table and version.

DuckDB's delta extension cannot be downloaded here, so each view reads the Parquet files of a Delta
version with ``read_parquet([...])``. The catalog is rebuilt in a temporary file and swapped in with
an atomic rename, so readers never see a half-written catalog and never block the writer; a lock
file serialises concurrent refreshes (one per materialization).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from corpusmill import canonical, lake, versions

if TYPE_CHECKING:
    import duckdb

    from corpusmill.home import Home

#: Tables that always have a view, even before anything wrote them (empty, with their schema).
ALWAYS: dict[str, pl.Schema] = {
    **{t: canonical.schema(t) for t in canonical.TABLES},
    "quarantine": pl.Schema(canonical.QUARANTINE),
}


#: Views that union many Delta tables: view name -> glob under the lake (one table per writer, so
#: concurrent writers never conflict).
UNIONS: dict[str, str] = {
    "quarantine": "_quarantine/*/*",
    "ingest_files": "_ledger/*",
    "equipment_aliases": "_aliases/*",
}


def union_tables(lake_root: Path) -> dict[str, list[Path]]:
    return {
        name: sorted(p for p in lake_root.glob(pattern) if (p / "_delta_log").is_dir())
        for name, pattern in UNIONS.items()
    }


def delta_tables(lake_root: Path) -> dict[str, Path]:
    """View name -> Delta table folder: ``lake/<name>`` as ``name``, ``lake/<layer>/<name>`` as
    ``<layer>_<name>``."""
    out: dict[str, Path] = {}
    if not lake_root.exists():
        return out
    for child in sorted(lake_root.iterdir()):
        if not child.is_dir() or child.name.startswith("_"):
            continue
        if (child / "_delta_log").is_dir():
            out[child.name] = child
            continue
        for sub in sorted(child.iterdir()):
            if sub.is_dir() and (sub / "_delta_log").is_dir():
                out[f"{child.name}_{sub.name}"] = sub
    return out


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def refresh(home: Home) -> list[str]:
    """Rebuild the catalog file from the lake's current state; returns the view names."""
    import duckdb

    with _locked(home.root / ".catalog.lock"):
        tmp = home.catalog.with_name(f".{home.catalog.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        con = duckdb.connect(str(tmp))
        try:
            names = _build(con, home)
        finally:
            con.close()
        os.replace(tmp, home.catalog)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return names


def _build(con: duckdb.DuckDBPyConnection, home: Home) -> list[str]:
    names: list[str] = []
    tables = delta_tables(home.lake)
    for name, path in tables.items():
        _view(con, name, lake.files(path), lake.open_table(path).schema().to_arrow())
        names.append(name)
    for name, parts in union_tables(home.lake).items():
        all_files = [f for p in parts for f in lake.files(p)]
        if all_files:
            _view(con, name, all_files, None)
            names.append(name)
    for name, schema in ALWAYS.items():
        if name not in names:
            _empty(con, name, schema)
            names.append(name)
    rows = []
    for name, path in tables.items():
        for m in versions.manifests(path):
            v = m["version"]
            vname = f"{name}_v{v}"
            _view(con, vname, lake.files(path, version=v), None)
            names.append(vname)
            rows.append(
                {
                    "corpus": name,
                    "version": v,
                    "view": vname,
                    "content_hash": m["content_hash"],
                    "config_hash": m["config_hash"],
                    "rows": m["rows"],
                    "code_version": m["code_version"],
                    "created_at": m["created_at"],
                    "inputs": json.dumps(m["inputs"], sort_keys=True),
                    "manifest": json.dumps(m, sort_keys=True, default=str),
                }
            )
    cv = pl.DataFrame(
        rows,
        schema={
            "corpus": pl.String, "version": pl.Int64, "view": pl.String,
            "content_hash": pl.String, "config_hash": pl.String, "rows": pl.Int64,
            "code_version": pl.String, "created_at": pl.String, "inputs": pl.String,
            "manifest": pl.String,
        },
    )  # fmt: skip
    con.register("_cv", cv.to_arrow())
    con.execute("CREATE TABLE corpus_versions AS SELECT * FROM _cv ORDER BY corpus, version")
    con.unregister("_cv")
    names.append("corpus_versions")
    return names


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _view(con: duckdb.DuckDBPyConnection, name: str, files: list[str], arrow_schema) -> None:
    if not files:
        empty = arrow_schema.empty_table() if arrow_schema is not None else None
        if empty is None:
            return
        con.register("_empty", empty)
        con.execute(f"CREATE TABLE {_quote(name)} AS SELECT * FROM _empty")
        con.unregister("_empty")
        return
    file_list = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(
        f"CREATE VIEW {_quote(name)} AS SELECT * FROM read_parquet([{file_list}], "
        "union_by_name = true)"
    )


def _empty(con: duckdb.DuckDBPyConnection, name: str, schema: pl.Schema) -> None:
    con.register("_empty", pl.DataFrame(schema=schema).to_arrow())
    con.execute(f"CREATE TABLE {_quote(name)} AS SELECT * FROM _empty")
    con.unregister("_empty")


def connect(home: Home) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog (refreshing it first if it does not exist yet)."""
    import duckdb

    if not home.catalog.exists():
        refresh(home)
    return duckdb.connect(str(home.catalog), read_only=True)


def query(home: Home, sql: str) -> pl.DataFrame:
    """Run one read-only SQL statement against the catalog and return the result."""
    con = connect(home)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()
