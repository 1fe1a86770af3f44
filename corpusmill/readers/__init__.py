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
from typing import Literal

from corpusmill.config import Format, ReadOptions
from corpusmill.readers.delimited import _read_delimited
from corpusmill.readers.encoding import SAMPLE, _codec_name, _decode_error, detect_encoding
from corpusmill.readers.errors import ReaderError
from corpusmill.readers.excel import _read_excel
from corpusmill.readers.files import _local, _open, sha256_file
from corpusmill.readers.json import _read_json, _read_jsonl
from corpusmill.readers.parquet import _read_parquet
from corpusmill.readers.results import REJECT_SCHEMA, Document, ReadResult
from corpusmill.readers.sqlite import _read_sqlite

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
