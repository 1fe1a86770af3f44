"""The read-only query path over the catalog: a sandbox that cannot write or wander.

Readers get a sandbox (:func:`connect`, :func:`query`): the catalog attached read-only, DuckDB's
file access limited to the lake folder and locked, and every statement parsed by DuckDB first so
only one read-only statement runs. See docs/query.md.

For a lake on object storage DuckDB gets no file access at all (``allowed_directories`` is empty):
the tables are pyarrow datasets over exactly the lake files the catalog lists, registered on the
connection before it is locked (:func:`corpusmill.catalog.register_datasets`), and read-only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from corpusmill import storage
from corpusmill.catalog import DATASETS, built_for, quote_ident, refresh, register_datasets

if TYPE_CHECKING:
    import duckdb

    from corpusmill.home import Home


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

    if not built_for(home):  # no catalog yet, or the home was moved: views over this lake
        refresh(home)
    if storage.is_remote(home.lake):  # DuckDB reads no file: the lake comes as pyarrow datasets
        lake_dirs = []
    else:
        lake_dirs = sorted({os.path.abspath(home.lake), os.path.realpath(home.lake)})
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {_literal(str(home.catalog))} AS catalog (READ_ONLY)")
        con.execute("USE catalog")
        register_datasets(con)
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
        exprs.append(f"{expr} AS {quote_ident(alias)}")
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
            "SELECT DISTINCT table_name FROM information_schema.tables "
            "WHERE (table_catalog = 'catalog' AND table_name != ?) OR table_catalog = 'temp' "
            "ORDER BY table_name",
            [DATASETS],
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
