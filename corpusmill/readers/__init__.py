"""Format readers: every delivered file becomes rows (or a document), as delivered, with row numbers.

One entry point per shape of file: :func:`read_table` for anything with rows, :func:`read_document`
for text, Markdown and PDF. Readers never guess types for text formats (every column is
``pl.String``, so a historian's ``"Bad"`` in a numeric column survives for validation to judge), and
nothing disappears silently: a line that cannot be a row is returned in ``rejects`` with its row
number, raw text, reason and check name.

Row numbering (``_row``)
    1-based number of the data record in its file, in file order. Not counted: the ``skip_rows``
    lines, the header, comment lines and blank lines (for files with more than one column). A
    rejected row keeps its number, so ``frame`` rows and ``rejects`` rows together number
    1..rows_delivered with no gaps and no overlaps. Excel: the data-row number within its sheet
    (Excel row = ``_row`` + header row), so empty rows leave gaps.

Ragged rows (CSV/TSV)
    A vectorised pre-check over raw lines (``pl.scan_lines``) counts delimiters per line; lines that
    contain the quote character are re-counted outside quoted segments. If any data line has an odd
    number of quote characters (a quoted field spanning lines), the pre-check falls back to Python's
    ``csv`` module over the whole file. Rejected records are removed from ``frame`` by ``_row``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, Literal

import polars as pl

from corpusmill.config import Format, ReadOptions
from corpusmill.readers.delimited import _read_delimited
from corpusmill.readers.encoding import SAMPLE, _codec_name, _decode_error, detect_encoding
from corpusmill.readers.errors import ReaderError
from corpusmill.readers.files import _local, _open, sha256_file
from corpusmill.readers.json import _read_json, _read_jsonl
from corpusmill.readers.results import REJECT_SCHEMA, Document, ReadResult, _fields_reason, _rejects

__all__ = [
    "REJECT_SCHEMA",
    "Document",
    "ReadResult",
    "ReaderError",
    "detect_encoding",
    "read_document",
    "read_table",
    "sha256_file",
]


# -- native-typed formats -------------------------------------------------------------------------


def _native_series(name: str, values: list[Any]) -> pl.Series:
    """A column keeping the values' type when they agree; mixed types become text."""
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, float} or len(kinds) <= 1:
        try:
            return pl.Series(name, values, strict=False if kinds <= {int, float} else True)
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            pass
    return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String())


def _native_frame(columns: list[str], rows: list[tuple[int, tuple[Any, ...]]]) -> pl.DataFrame:
    series = [_native_series(c, [r[i] for _, r in rows]) for i, c in enumerate(columns)]
    series.append(pl.Series("_row", [n for n, _ in rows], dtype=pl.Int64()))
    return pl.DataFrame(series)


def _read_excel(path: str, options: ReadOptions, local: Path) -> ReadResult:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(local, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many types for a non-xlsx file
        msg = f"{path}: not an .xlsx workbook: {e}"
        raise ReaderError(msg) from None
    try:
        wanted = options.sheet if isinstance(options.sheet, list) else [options.sheet or 0]
        frames: list[pl.DataFrame] = []
        bad: list[tuple[int, str, str, str]] = []
        total = 0
        columns: dict[str, None] = {}
        for s in wanted:
            try:
                ws = wb.worksheets[s] if isinstance(s, int) else wb[s]
            except (IndexError, KeyError):
                msg = f"{path}: no sheet {s!r} (sheets: {', '.join(wb.sheetnames)})"
                raise ReaderError(msg) from None
            it = ws.iter_rows(values_only=True)
            for _ in range(options.skip_rows):
                next(it, None)
            if options.header:
                head = next(it, None) or ()
                names = [str(v) if v is not None else None for v in head]
                while names and names[-1] is None:
                    names.pop()
                cols = [n if n is not None else f"column_{i + 1}" for i, n in enumerate(names)]
            else:
                cols = list(options.columns or [])
            width = len(cols)
            rows: list[tuple[int, tuple[Any, ...]]] = []
            for n, row in enumerate(it, 1):
                if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                    continue
                total += 1
                extra = [v for v in row[width:] if v is not None]
                if extra:
                    used = len(row) - next(i for i, v in enumerate(reversed(row)) if v is not None)
                    raw = ",".join("" if v is None else str(v) for v in row[:used])
                    reason = f"sheet {ws.title!r}: {_fields_reason(used, width)}"
                    bad.append((n, raw, reason, "ragged_row"))
                    continue
                rows.append((n, tuple(row[:width]) + (None,) * (width - len(row))))
            df = _native_frame(cols, rows)
            if isinstance(options.sheet, list):
                df = df.with_columns(pl.lit(ws.title, dtype=pl.String()).alias("_sheet"))
            frames.append(df)
            columns.update(dict.fromkeys(cols))
    finally:
        wb.close()
    df = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    cols = list(columns)
    order = [*cols, *(["_sheet"] if "_sheet" in df.columns else []), "_row"]
    return ReadResult(df.select(order).lazy(), cols, None, _rejects(bad), total)


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


def _read_parquet(path: str, local: Path) -> ReadResult:
    import pyarrow.parquet as pq

    try:
        n = pq.ParquetFile(local).metadata.num_rows
    except Exception as e:  # pyarrow raises ArrowInvalid and friends
        msg = f"{path}: not a Parquet file: {e}"
        raise ReaderError(msg) from None
    lf = pl.scan_parquet(local).with_row_index("_row", offset=1)
    cols = [c for c in lf.collect_schema().names() if c != "_row"]
    lf = lf.select(*cols, pl.col("_row").cast(pl.Int64))
    return ReadResult(lf, cols, None, _rejects([]), n)


# -- entry points ---------------------------------------------------------------------------------


def read_table(
    path: str,
    fmt: Format,
    options: ReadOptions,
    *,
    storage_options: dict | None = None,
    workdir: Path | None = None,
) -> ReadResult:
    """Read one file's rows, as delivered, with 1-based ``_row`` numbers and rejected lines.

    Parameters
    ----------
    path
        Local path or URI (``s3://...``; remote objects are staged into temp space first).
    fmt
        csv, tsv, whitespace, excel, json, jsonl, parquet or sqlite.
    options
        The source's ``read`` block.
    storage_options
        Passed to fsspec for URIs.
    workdir
        Folder for temporary files (staged remote objects, UTF-8 transcodings). Default: a process
        temp folder removed at exit.

    Raises
    ------
    ReaderError
        The file is missing, not text (for text formats), not decodable with the declared encoding
        (the message names the codec, byte offset and line), or not the declared format.
    """
    temps: list[Path] = []
    str_path = str(path)
    local = _local(str_path, storage_options, workdir, temps)
    if fmt in ("csv", "tsv", "whitespace"):
        return _read_delimited(str_path, fmt, options, local, workdir, temps)
    if fmt == "json":
        result = _read_json(str_path, options, local)
    elif fmt == "jsonl":
        result = _read_jsonl(str_path, options, local)
    elif fmt == "excel":
        result = _read_excel(str_path, options, local)
    elif fmt == "sqlite":
        result = _read_sqlite(str_path, options, local)
    elif fmt == "parquet":
        result = _read_parquet(str_path, local)
    else:
        msg = f"{path}: format {fmt!r} is not a table format (use read_document for documents)"
        raise ReaderError(msg)
    result.temp_files.extend(temps)
    return result


_MD_TITLE = re.compile(r"^#\s+(.+?)\s*#*\s*$")


def read_document(
    path: str,
    fmt: Literal["text", "markdown", "pdf"],
    options: ReadOptions,
    *,
    storage_options: dict | None = None,
) -> Document:
    """Read a whole document: text and Markdown (decoded as declared or detected) or PDF text.

    Markdown's title is its first ``# `` heading; a PDF's title is its metadata title.
    """
    if fmt == "pdf":
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        with _open(str(path), storage_options) as f:
            data = f.read()
        try:
            reader = PdfReader(io.BytesIO(data))
            pages = [p.extract_text() or "" for p in reader.pages]
            meta = reader.metadata
            title = (meta.title if meta else None) or None
        except (PdfReadError, ValueError, KeyError) as e:
            msg = f"{path}: not a readable PDF: {e}"
            raise ReaderError(msg) from None
        return Document("\n\n".join(pages).strip(), title, None, len(pages))
    if fmt not in ("text", "markdown"):
        msg = f"{path}: format {fmt!r} is not a document format"
        raise ReaderError(msg)
    with _open(str(path), storage_options) as f:
        data = f.read()
    if options.encoding.lower() == "auto":
        try:
            codec = detect_encoding(data[:SAMPLE])
        except ReaderError as e:
            msg = f"{path}: {e}"
            raise ReaderError(msg) from None
    else:
        codec = _codec_name(options.encoding)
    try:
        text = data.decode(codec).removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise _decode_error(str(path), codec, e.start, line, e.reason) from None
    text = text.replace("\r\n", "\n")
    title = None
    if fmt == "markdown":
        for ln in text.splitlines():
            if m := _MD_TITLE.match(ln):
                title = m.group(1)
                break
    return Document(text, title, codec, None)
