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
    con.text_factory = _decode  # TEXT only (BLOBs stay bytes): a bad cell rejects its row only
    try:
        cur = con.execute(options.query)
        cols = [d[0] for d in cur.description or ()]
        fetched = cur.fetchall()
    except sqlite3.Error as e:
        msg = f"{path}: SQLite query failed: {e} (query: {options.query!r})"
        raise ReaderError(msg) from None
    except UnicodeDecodeError as e:  # a column name (TEXT cells go through _decode)
        msg = f"{path}: a column name in the result is not UTF-8 ({e.reason} at byte {e.start})"
        raise ReaderError(msg) from None
    finally:
        con.close()
    rows, bad = [], []
    for n, row in enumerate(fetched, 1):
        wrong = next((i for i, v in enumerate(row) if isinstance(v, _NotUtf8)), None)
        if wrong is None:
            rows.append((n, row))
            continue
        raw = ",".join(repr(v.data) if isinstance(v, _NotUtf8) else str(v) for v in row)
        bad.append((n, raw, f"column {cols[wrong]!r}: {row[wrong]}", "bad_text"))
    df = _native_frame(cols, rows)
    return ReadResult(df.lazy(), cols, None, _rejects(bad), len(fetched))


class _NotUtf8:
    """A TEXT cell whose bytes are not UTF-8 (its row is rejected with this as the reason)."""

    def __init__(self, data: bytes, e: UnicodeDecodeError) -> None:
        self.data = data
        self.reason = f"text is not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})"

    def __str__(self) -> str:
        return self.reason


def _decode(data: bytes) -> str | _NotUtf8:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        return _NotUtf8(data, e)
