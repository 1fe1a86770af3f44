"""SQLite databases: the rows of ``read.query``, run on a read-only connection."""

from __future__ import annotations

from pathlib import Path

from corpusmill.config import ReadOptions
from corpusmill.readers.errors import ReaderError
from corpusmill.readers.native import _native_frame
from corpusmill.readers.results import ReadResult, _rejects


def _read_sqlite(path: str, options: ReadOptions, local: Path) -> ReadResult:
    import sqlite3

    if not options.query:
        msg = f"{path}: format sqlite needs read.query (the SELECT to run)"
        raise ReaderError(msg)
    try:
        con = sqlite3.connect(f"file:{local.resolve()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        msg = f"{path}: cannot open as SQLite: {e}"
        raise ReaderError(msg) from None
    try:
        cur = con.execute(options.query)
        cols = [d[0] for d in cur.description or ()]
        rows = list(enumerate(cur.fetchall(), 1))
    except sqlite3.Error as e:
        msg = f"{path}: SQLite query failed: {e} (query: {options.query!r})"
        raise ReaderError(msg) from None
    finally:
        con.close()
    df = _native_frame(cols, rows)
    return ReadResult(df.lazy(), cols, None, _rejects([]), len(rows))
