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

Modules (one per format family; this package dispatches :func:`read_table` by format)
    ``delimited`` CSV, TSV, whitespace-separated text (ragged-row checks described there);
    ``json`` JSON and JSON Lines; ``excel`` .xlsx; ``sqlite`` a query's rows; ``parquet``;
    ``documents`` text, Markdown and PDF. Shared: ``encoding`` (detection, decoding, UTF-8
    transcoding), ``files`` (opening, staging remote objects, temp space, hashing), ``results``
    (:class:`ReadResult`, :class:`Document`, rejects), ``native`` (natively typed frames for Excel
    and SQLite), ``errors`` (:class:`ReaderError`).
"""

from __future__ import annotations

from pathlib import Path

from corpusmill.config import Format, ReadOptions
from corpusmill.readers.delimited import _read_delimited
from corpusmill.readers.documents import read_document
from corpusmill.readers.encoding import detect_encoding
from corpusmill.readers.errors import ReaderError, parser_errors
from corpusmill.readers.excel import _read_excel
from corpusmill.readers.files import _local, sha256_file
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
    # the checks before the parse should have caught it; never leak a parser's own error
    with parser_errors(str(path), fmt):
        result = _read_table(path, fmt, options, storage_options, workdir)
    result.path, result.format = str(path), fmt
    return result


def _read_table(
    path: str,
    fmt: Format,
    options: ReadOptions,
    storage_options: dict | None,
    workdir: Path | None,
) -> ReadResult:
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


