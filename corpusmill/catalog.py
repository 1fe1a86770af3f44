"""The DuckDB catalog: one file in the home whose views read every Delta table and version.

DuckDB's delta extension cannot be downloaded here, so each view reads the Parquet files of a Delta
version with ``read_parquet([...])``. Which views exist and which folders they read comes from
:mod:`corpusmill.layout`. A refresh edits a copy of the catalog and swaps it in with an atomic
rename, so readers never see a half-written catalog and never block the writer; a lock file
serialises concurrent refreshes. A writer refreshes only the views of the tables it wrote.

Readers get a sandbox (:func:`connect`, :func:`query`): the catalog attached read-only, DuckDB's
file access limited to the lake folder and locked, and every statement parsed by DuckDB first so
only one read-only statement runs. The refresh (the writer) stays unsandboxed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from corpusmill import canonical, lake, versions
from corpusmill.corpora import CORPORA
from corpusmill.layout import Lake

if TYPE_CHECKING:
    import duckdb

    from corpusmill.home import Home

#: Tables that always have a view, even before anything wrote them (empty, with their schema).
ALWAYS: dict[str, pl.Schema] = {
    **{t: canonical.schema(t) for t in canonical.TABLES},
    "quarantine": pl.Schema(canonical.QUARANTINE),
}

CORPUS_VERSIONS = "corpus_versions"
_CV_SCHEMA = {
    "corpus": pl.String, "version": pl.Int64, "view": pl.String, "content_hash": pl.String,
    "config_hash": pl.String, "rows": pl.Int64, "code_version": pl.String,
    "created_at": pl.String, "inputs": pl.String, "manifest": pl.String,
}  # fmt: skip


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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

    with _locked(home.root / ".catalog.lock"):
        tmp = home.catalog.with_name(f".{home.catalog.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        whole = tables is None or not home.catalog.exists()
        if not whole:
            shutil.copyfile(home.catalog, tmp)
        con = duckdb.connect(str(tmp))
        try:
            names = _build(con, Lake(home.lake), None if whole else set(tables or ()))
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, home.catalog)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return names


def _build(con: duckdb.DuckDBPyConnection, at: Lake, only: set[str] | None) -> list[str]:
    """Create the views in ``only`` (every view when None), replacing what the catalog had."""

    def wanted(name: str) -> bool:
        return only is None or name in only

    names: list[str] = []
    singles = at.views(CORPORA)
    for name, path in singles.items():
        if wanted(name):
            _drop(con, name)
            _view(con, name, lake.files(path), lake.open_table(path).schema().to_arrow())
            names.append(name)
    for name, parts in at.unions().items():
        files = [f for p in parts for f in lake.files(p)]
        if wanted(name) and files:
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
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {_quote(name)}")


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


# -- the read-only sandbox -----------------------------------------------------------------------


class QueryRefused(ValueError):
    """A query the sandbox will not run (a write, a setting change, several statements ...)."""


_ALLOWED = "one SELECT (or EXPLAIN, DESCRIBE, SHOW, SUMMARIZE, PRAGMA table_info/show_tables)"

#: Why each refused statement type is refused (DuckDB's own statement classification).
_WHY: dict[str, str] = {
    "COPY": "COPY reads or writes files",
    "EXPORT": "EXPORT DATABASE writes files",
    "ATTACH": "ATTACH opens (or creates) another database file",
    "DETACH": "DETACH changes the attached databases",
    "LOAD": "INSTALL/LOAD adds extensions",
    "SET": "SET/RESET/USE change the session's settings",
    "PRAGMA": "this PRAGMA changes settings or data",
    "CALL": "CALL runs a procedure (use SELECT * FROM <function>(...) for table functions)",
    "CREATE": "CREATE adds objects; the catalog is read-only",
    "DROP": "DROP removes objects; the catalog is read-only",
    "ALTER": "ALTER changes the schema; the catalog is read-only",
    "INSERT": "INSERT writes rows; the catalog is read-only",
    "UPDATE": "UPDATE writes rows; the catalog is read-only",
    "DELETE": "DELETE writes rows; the catalog is read-only",
    "MERGE_INTO": "MERGE writes rows; the catalog is read-only",
    "VACUUM": "VACUUM/ANALYZE maintain the database; the catalog is read-only",
    "TRANSACTION": "transactions are not needed for one read-only statement",
    "PREPARE": "PREPARE stores a statement to run later",
    "EXECUTE": "EXECUTE runs a stored statement",
    "MULTI": "it expands into several statements (PIVOT without IN (...)? list the values)",
}

#: PRAGMAs that only look: they are also table functions (``SELECT * FROM pragma_<name>()``).
_READ_PRAGMAS = frozenset({
    "table_info", "show", "show_tables", "show_tables_expanded", "show_databases",
    "database_list", "database_size", "storage_info", "version", "platform", "functions",
    "collations", "metadata_info", "user_agent",
})  # fmt: skip


def check(sql: str) -> None:
    """Refuse (:class:`QueryRefused`) anything but one read-only statement, before it runs.

    DuckDB parses the text (comments and string literals included), so ``select 1; copy ...``
    is two statements and ``select ';copy ...'`` is one SELECT. A syntax error is DuckDB's own
    ``duckdb.ParserException``.
    """
    import duckdb

    try:
        statements = [(s.type.name, s.query) for s in duckdb.extract_statements(sql)]
    except ValueError as e:  # a statement type this duckdb's Python API cannot name
        raise QueryRefused(
            f"refused: DuckDB could not classify the statement ({e}); run {_ALLOWED}"
        ) from None
    if not statements:
        raise QueryRefused(f"refused: no SQL statement given; run {_ALLOWED}")
    if len(statements) > 1:
        kinds = ", ".join(kind for kind, _ in statements)
        raise QueryRefused(
            f"refused: {len(statements)} statements ({kinds}); run {_ALLOWED} at a time"
        )
    why = _refusal(*statements[0])
    if why:
        raise QueryRefused(f"refused {why}; run {_ALLOWED}")


def _refusal(kind: str, text: str) -> str | None:
    """None for a read-only statement, else ``"<WHAT>: <why>"``."""
    import duckdb

    if kind == "SELECT":
        return None
    if kind == "EXPLAIN":  # EXPLAIN ANALYZE runs its statement: judge that one
        inner = re.sub(
            r"^\s*explain\s+(analy[sz]e\s+)?(\([^)]*\)\s*)?", "", text, flags=re.I
        )
        try:
            found = [(s.type.name, s.query) for s in duckdb.extract_statements(inner)]
        except (ValueError, duckdb.Error):
            found = []
        if len(found) != 1:
            return "EXPLAIN: of something that is not one statement"
        why = _refusal(*found[0])
        return None if why is None else f"EXPLAIN of {why}"
    if kind == "PRAGMA":
        m = re.match(r"\s*pragma\s+(\w+)\s*(=)?", text, flags=re.I)
        if m is None:  # DuckDB runs e.g. COPY FROM DATABASE as a pragma
            words = " ".join(text.split()[:3]).upper()
            return f"{words}: it copies or changes data or settings"
        name = m.group(1).lower()
        if name in _READ_PRAGMAS and not m.group(2):
            return None
        return f"PRAGMA {name}: {_WHY['PRAGMA']}"
    return f"{kind}: {_WHY.get(kind, 'it is not a read-only query')}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _open_sandbox(home: Home) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with the catalog attached read-only and file access locked down.

    ``:memory:`` (not the catalog path) so no other connection in this process shares the
    instance and its settings. After ``enable_external_access=false`` DuckDB reads and writes
    only the ``allowed_directories`` (the lake, which the views ``read_parquet``) and the files
    of attached databases; ``lock_configuration`` stops any later ``SET`` from undoing that.
    Writing *into* the lake is still possible for DuckDB, which is why :func:`check` refuses
    every statement but a read-only one and :class:`Sandbox` hands out no relation objects.
    """
    import duckdb

    if not home.catalog.exists():
        refresh(home)
    lake_dirs = sorted({os.path.abspath(home.lake), os.path.realpath(home.lake)})
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {_literal(str(home.catalog))} AS catalog (READ_ONLY)")
        con.execute("USE catalog")
        dirs = ", ".join(_literal(d.rstrip("/") + "/") for d in lake_dirs)
        con.execute(f"SET allowed_directories = [{dirs}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET python_enable_replacements = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


#: DuckDB type ids polars reads from DuckDB's Arrow output unchanged (and csv/json can print).
_PLAIN_TYPES = frozenset({
    "boolean", "tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
    "uinteger", "ubigint", "float", "double", "decimal", "varchar", "date", "time", "timestamp",
    "timestamp_s", "timestamp_ms", "timestamp_ns", "timestamp with time zone", "uuid", "enum",
})  # fmt: skip
_NESTED_TYPES = frozenset({"list", "array", "struct", "map", "union"})


def _polars_reads(t: Any) -> bool:
    """Whether polars imports DuckDB type ``t`` (nested types: all their children too)."""
    if t.id in _PLAIN_TYPES or t.id == "blob":
        return True
    if t.id in {"list", "array", "struct", "map"}:
        kids = [c for _, c in t.children if hasattr(c, "id")]
        return bool(kids) and all(_polars_reads(c) for c in kids)
    return False


def _convert(rel: Any, *, text: bool) -> tuple[pl.DataFrame, list[str]]:
    """Project ``rel`` in DuckDB to types polars imports (``text``: that every printer prints)."""
    exprs, as_json, seen = [], [], set()
    for i, (name, t) in enumerate(zip(rel.columns, rel.types, strict=True), 1):
        alias, n = name, 1
        while alias in seen:
            n += 1
            alias = f"{name}_{n}"
        seen.add(alias)
        col = f"#{i}"
        if t.id in _PLAIN_TYPES or (not text and _polars_reads(t)):
            expr = col
        elif t.id in _NESTED_TYPES:
            expr = f"CAST(to_json({col}) AS VARCHAR)"
            as_json.append(alias)
        elif t.id == "blob":
            expr = f"to_base64({col})"
        else:  # interval, bit, time with time zone, uhugeint, bignum, ...: DuckDB's text form
            expr = f"CAST({col} AS VARCHAR)"
        exprs.append(f"{expr} AS {_quote(alias)}")
    if not exprs:
        return pl.DataFrame(), []
    return rel.project(", ".join(exprs)).pl(), as_json


class Result:
    """The rows of one sandboxed statement. Only reads: no ``to_parquet``/``write_csv``/``create``.

    ``df()``/``arrow()``/``fetchall()`` give DuckDB's native values, ``pl()``/:meth:`frame` a
    polars frame, :meth:`portable` a polars frame of types every printer handles.
    """

    def __init__(self, rel: duckdb.DuckDBPyRelation) -> None:
        self._rel = rel

    @property
    def columns(self) -> list[str]:
        return list(self._rel.columns)

    @property
    def types(self) -> list[str]:
        return [str(t) for t in self._rel.types]

    def fetchall(self) -> list[tuple]:
        return self._rel.fetchall()

    def fetchone(self) -> tuple | None:
        rows = self._rel.limit(1).fetchall()
        return rows[0] if rows else None

    def fetchmany(self, size: int = 1) -> list[tuple]:
        return self._rel.limit(size).fetchall()

    def pl(self) -> pl.DataFrame:
        """Same as :meth:`frame` (polars cannot import every DuckDB type as is)."""
        return self.frame()

    def df(self) -> Any:
        return self._rel.df()

    def arrow(self) -> Any:
        return self._rel.to_arrow_table()

    def show(self) -> None:
        self._rel.show()

    def __repr__(self) -> str:
        return repr(self._rel)

    def frame(self) -> pl.DataFrame:
        """A polars frame that never fails to import: types polars lacks (intervals, unions,
        bit strings ... and nested values holding them) arrive as DuckDB's text / JSON text."""
        return _convert(self._rel, text=False)[0]

    def portable(self) -> tuple[pl.DataFrame, list[str]]:
        """(frame, json_columns): every column converted in DuckDB to a type csv/json/tables print.

        Lists, arrays, structs, maps and unions become JSON text (``to_json``; their names are
        returned as ``json_columns``), blobs base64 text, intervals and the rest (BIT, TIME WITH
        TIME ZONE, UHUGEINT ...) DuckDB's own text form. Duplicate column names get ``_2``...
        """
        return _convert(self._rel, text=True)


class Sandbox:
    """A read-only, sandboxed connection to the catalog (see :func:`connect`).

    ``sql``/``query``/``execute`` run one checked statement and return a :class:`Result`.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def sql(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Result:
        check(sql)
        if params is None:
            return Result(self._con.sql(sql))
        return Result(self._con.sql(sql, params=params))

    query = sql
    execute = sql

    def tables(self) -> list[str]:
        """The catalog's views and tables, by name."""
        rows = self._con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'catalog' "
            "ORDER BY table_name"
        ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(home: Home) -> Sandbox:
    """A sandboxed read-only connection to the catalog (refreshing it first if it does not exist).

    The catalog is attached read-only; DuckDB may touch only the lake folder (which the views
    read) and that setting is locked; each statement is checked by :func:`check` before it runs
    (:class:`QueryRefused` otherwise).
    """
    return Sandbox(_open_sandbox(home))


def query(home: Home, sql: str) -> pl.DataFrame:
    """Run one read-only SQL statement in the sandbox and return it as a polars frame.

    Lists and structs stay native; only types polars cannot import become text (see
    :meth:`Result.frame`). Raises :class:`QueryRefused` (before running) or a ``duckdb.Error``.
    """
    check(sql)
    with connect(home) as con:
        return con.sql(sql).frame()


def query_portable(home: Home, sql: str) -> tuple[pl.DataFrame, list[str]]:
    """Like :func:`query`, converted for printing (see :meth:`Result.portable`)."""
    check(sql)
    with connect(home) as con:
        return con.sql(sql).portable()
