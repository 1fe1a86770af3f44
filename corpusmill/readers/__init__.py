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

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from corpusmill.config import Format, ReadOptions
from corpusmill.readers.encoding import (
    SAMPLE,
    _codec_name,
    _decode_all,
    _decode_error,
    _resolve_encoding,
    _stream_decode,
    _utf8_path,
    detect_encoding,
)
from corpusmill.readers.errors import ReaderError
from corpusmill.readers.files import _local, _open, sha256_file
from corpusmill.readers.results import (
    REJECT_SCHEMA,
    Document,
    ReadResult,
    _empty_result,
    _fields_reason,
    _rejects,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

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


_SNIFF_DELIMITERS = ",;\t|"


# -- encodings ------------------------------------------------------------------------------------


def _text_sample(text_path: Path, n: int = 1 << 16) -> list[str]:
    with open(text_path, "rb") as f:
        data = f.read(n)
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = text.split("\n")
    if len(data) == n and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    return [ln.removesuffix("\r") for ln in lines]


# -- delimited text -------------------------------------------------------------------------------


def _sniff(lines: list[str], quote: str) -> str:
    sample = "\n".join(lines[:50])
    try:
        d = csv.Sniffer().sniff(sample, delimiters=_SNIFF_DELIMITERS).delimiter
        if d in _SNIFF_DELIMITERS:
            return d
    except csv.Error:
        pass
    # Fallback: the candidate whose per-line count is non-zero and most consistent.
    best, score = ",", -1
    for d in _SNIFF_DELIMITERS:
        counts = [ln.count(d) for ln in lines[:50] if ln.strip() and quote not in ln]
        if not counts or counts[0] == 0:
            continue
        s = sum(c == counts[0] for c in counts)
        if s > score:
            best, score = d, s
    return best


def _header_index(lines: list[str], options: ReadOptions) -> int:
    """Physical 0-based index of the header line (or the first data line when headerless)."""
    i = options.skip_rows
    while i < len(lines) and (
        not lines[i].strip() or (options.comment and lines[i].startswith(options.comment))
    ):
        i += 1
    return i


def _null_values(options: ReadOptions) -> tuple[list[str], bool]:
    nulls = [v for v in options.null_values if v != ""]
    return nulls, "" in options.null_values


def _scan_delimited(
    text_path: Path, options: ReadOptions, delim: str, skip: int, columns: list[str] | None
) -> pl.LazyFrame:
    nulls, empty_null = _null_values(options)
    kwargs: dict[str, Any] = {}
    if not options.header:
        kwargs["schema"] = dict.fromkeys(columns or [], pl.String())
    return pl.scan_csv(
        text_path,
        has_header=options.header,
        separator=delim,
        quote_char=options.quote or None,
        skip_lines=skip,
        comment_prefix=options.comment,
        infer_schema=False,
        null_values=nulls or None,
        empty_string_is_null=empty_null,
        truncate_ragged_lines=True,
        raise_if_empty=False,
        row_index_name="_row",
        row_index_offset=1,
        **kwargs,
    )


@dataclass
class _Check:
    rejects: list[tuple[int, str, str, str]]
    blanks: list[int]  # record numbers (in polars' numbering) of blank lines
    records: int | None  # all data records, blanks excluded (when known)


def _line_check(
    text_path: Path, options: ReadOptions, delim: str, width: int, data_start: int
) -> _Check | None:
    """Vectorised field-count check on raw lines; None when a quoted field spans lines."""
    line = pl.col("line")
    q = options.quote
    n_raw = line.str.count_matches(delim, literal=True)
    cond = n_raw != width - 1
    if q:
        cond = cond | line.str.contains(q, literal=True)
    if options.comment:
        cond = cond | line.str.starts_with(options.comment)
    # Lines before data_start pass the filter too when they look odd; they are dropped below.
    lf = pl.scan_lines(text_path, row_index_name="_line").filter(cond)
    if q:
        qq = re.escape(q)
        outside = line.str.replace_all(f"{qq}[^{qq}]*{qq}", "").str.count_matches(delim, literal=True)
        lf = lf.with_columns(
            n=outside, odd=line.str.count_matches(q, literal=True) % 2 == 1
        )
    else:
        lf = lf.with_columns(n=n_raw, odd=pl.lit(False))
    cand = lf.collect(engine="streaming").filter(pl.col("_line") >= data_start)
    is_comment = (
        cand["line"].str.starts_with(options.comment)
        if options.comment
        else pl.Series([False] * cand.height, dtype=pl.Boolean())
    )
    cand = cand.with_columns(comment=is_comment)
    if cand.filter(~pl.col("comment") & pl.col("odd")).height:
        return None
    comments = cand.filter("comment")["_line"].to_list()
    rejects: list[tuple[int, str, str, str]] = []
    blanks: list[int] = []
    import bisect

    for ln, raw, n, is_c in cand.select("_line", "line", "n", "comment").iter_rows():
        if is_c:
            continue
        rec = ln - data_start + 1 - bisect.bisect_left(comments, ln)
        if not raw.strip():
            if width > 1:
                blanks.append(rec)
            continue
        if n + 1 != width:
            rejects.append((rec, raw, _fields_reason(n + 1, width), "ragged_row"))
    return _Check(rejects, blanks, None)


def _csv_check(
    text_path: Path, options: ReadOptions, delim: str, width: int, header_idx: int
) -> _Check:
    """Record-exact field-count check with Python's csv module (quoted fields spanning lines)."""
    rejects: list[tuple[int, str, str, str]] = []
    blanks: list[int] = []
    buf: list[str] = []

    def lines(f: Iterable[str]) -> Iterator[str]:
        for i, ln in enumerate(f):
            if i < header_idx:
                continue
            buf.append(ln)
            yield ln

    rec = 0
    with open(text_path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(
            lines(f), delimiter=delim, quotechar=options.quote or None,
            quoting=csv.QUOTE_MINIMAL if options.quote else csv.QUOTE_NONE,
        )  # fmt: skip
        first = options.header
        for fields in reader:
            raw = "".join(buf).rstrip("\r\n")
            buf.clear()
            if first:
                first = False
                continue
            if options.comment and raw.startswith(options.comment):
                continue
            rec += 1
            if not raw.strip():
                if width > 1:
                    blanks.append(rec)
                continue
            if len(fields) != width:
                rejects.append((rec, raw, _fields_reason(len(fields), width), "ragged_row"))
    return _Check(rejects, blanks, rec - len(blanks))


def _renumber(frame: pl.LazyFrame, check: _Check) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """Drop rejected and blank records from ``frame``; close the gaps blank lines leave."""
    frame = frame.with_columns(pl.col("_row").cast(pl.Int64))
    drop = [r[0] for r in check.rejects] + check.blanks
    if drop:
        frame = frame.filter(~pl.col("_row").is_in(drop))
    rejects = check.rejects
    if check.blanks:
        import bisect

        blanks = sorted(check.blanks)
        frame = frame.with_columns(
            pl.col("_row")
            - pl.lit(pl.Series(blanks, dtype=pl.Int64)).search_sorted(pl.col("_row"))
        )
        rejects = [(r - bisect.bisect_left(blanks, r), *rest) for r, *rest in rejects]
    return frame, _rejects(rejects)


def _read_delimited(
    path: str, fmt: Format, options: ReadOptions, local: Path, workdir: Path | None, temps: list[Path]
) -> ReadResult:
    codec, sample = _resolve_encoding(path, local, options)
    if not sample:
        return _empty_result(options, codec)
    text_path = _utf8_path(path, local, codec, workdir, temps)
    lines = _text_sample(text_path)
    if fmt == "whitespace" or options.delimiter == r"\s+":
        return _read_whitespace(path, options, text_path, codec, lines)
    delim = options.delimiter or ("\t" if fmt == "tsv" else _sniff(lines[options.skip_rows :], options.quote))
    header_idx = _header_index(lines, options)
    if header_idx >= len(lines):
        return _empty_result(options, codec)
    probe = _scan_delimited(text_path, options, delim, header_idx, options.columns)
    columns = [c for c in probe.collect_schema().names() if c != "_row"]
    width = len(columns)
    data_start = header_idx + 1 if options.header else header_idx
    try:
        check = _line_check(text_path, options, delim, width, data_start)
    except pl.exceptions.ComputeError as e:
        if "utf" not in str(e).lower():
            raise
        _stream_decode(text_path, "utf-8", path, None)
        raise  # pragma: no cover - the stream decode found the error first
    if check is None:
        check = _csv_check(text_path, options, delim, width, header_idx)
    frame, rejects = _renumber(probe, check)
    frame = frame.select(*columns, "_row")
    return ReadResult(frame, columns, codec, rejects, check.records, temps)


def _read_whitespace(
    path: str, options: ReadOptions, text_path: Path, codec: str, lines: list[str]
) -> ReadResult:
    line = pl.col("line")
    header_idx = _header_index(lines, options)
    if header_idx >= len(lines):
        return _empty_result(options, codec)
    columns = lines[header_idx].split() if options.header else list(options.columns or [])
    width = len(columns)
    data_start = header_idx + 1 if options.header else header_idx
    keep = line.str.strip_chars().str.len_bytes() > 0
    if options.comment:
        keep = keep & ~line.str.strip_chars_start().str.starts_with(options.comment)
    rows = (
        pl.scan_lines(text_path, row_index_name="_line")
        .filter(pl.col("_line") >= data_start)
        .filter(keep)
        .with_row_index("_row", offset=1)
        .with_columns(
            pl.col("_row").cast(pl.Int64),
            _f=line.str.strip_chars().str.replace_all(r"\s+", " ").str.split(" "),
        )
        .with_columns(_n=pl.col("_f").list.len())
    )
    try:
        bad, count = pl.collect_all(
            [rows.filter(pl.col("_n") != width).select("_row", "line", "_n"), rows.select(pl.len())]
        )
    except pl.exceptions.ComputeError as e:
        if "utf" not in str(e).lower():
            raise
        _stream_decode(text_path, "utf-8", path, None)
        raise
    nulls = list(options.null_values)
    frame = rows.filter(pl.col("_n") == width).select(
        *[
            pl.when(pl.col("_f").list.get(i).is_in(nulls))
            .then(None)
            .otherwise(pl.col("_f").list.get(i))
            .alias(c)
            for i, c in enumerate(columns)
        ],
        "_row",
    )
    rejects = _rejects(
        (r, raw, _fields_reason(n, width), "ragged_row") for r, raw, n in bad.iter_rows()
    )
    return ReadResult(frame, columns, codec, rejects, int(count.item()))


# -- JSON -----------------------------------------------------------------------------------------


def _json_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{name}."))
        else:
            out[name] = v
    return out


def _text_frame(
    records: list[tuple[int, dict[str, Any]]], options: ReadOptions
) -> tuple[pl.LazyFrame, list[str]]:
    columns: dict[str, None] = {}
    for _, rec in records:
        columns.update(dict.fromkeys(rec))
    nulls = set(options.null_values)
    data: dict[str, list[Any]] = {c: [] for c in columns}
    for _, rec in records:
        for c in columns:
            v = _json_text(rec.get(c))
            data[c].append(None if v in nulls else v)
    data["_row"] = [r for r, _ in records]
    schema = {c: pl.String() for c in columns} | {"_row": pl.Int64()}
    return pl.DataFrame(data, schema=schema).lazy(), list(columns)


def _read_json(path: str, options: ReadOptions, local: Path) -> ReadResult:
    text, codec = _decode_all(path, local, options)
    if not text.strip():
        return _empty_result(options, codec)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        msg = f"{path}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg}"
        raise ReaderError(msg) from None
    where = "the top level"
    if options.json_path:
        for part in options.json_path.split("."):
            where = f"json_path {options.json_path!r}"
            if isinstance(doc, dict) and part in doc:
                doc = doc[part]
            elif isinstance(doc, list) and part.lstrip("-").isdigit():
                doc = doc[int(part)]
            else:
                keys = ", ".join(map(str, doc)) if isinstance(doc, dict) else type(doc).__name__
                msg = f"{path}: json_path {options.json_path!r}: no key {part!r} (found: {keys})"
                raise ReaderError(msg)
    if isinstance(doc, dict):
        msg = (
            f"{path}: {where} is an object, not a list of records; set read.json_path to the "
            f"list (keys here: {', '.join(map(str, doc))})"
        )
        raise ReaderError(msg)
    if not isinstance(doc, list):
        msg = f"{path}: {where} is a {type(doc).__name__}, not a list of records"
        raise ReaderError(msg)
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, str, str, str]] = []
    for i, item in enumerate(doc, 1):
        if isinstance(item, dict):
            good.append((i, _flatten(item)))
        else:
            raw = json.dumps(item, ensure_ascii=False)
            bad.append((i, raw, f"record is a {type(item).__name__}, not an object", "not_an_object"))
    frame, columns = _text_frame(good, options)
    return ReadResult(frame, columns, codec, _rejects(bad), len(doc))


def _read_jsonl(path: str, options: ReadOptions, local: Path) -> ReadResult:
    text, codec = _decode_all(path, local, options)
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, str, str, str]] = []
    n = 0
    for raw in text.splitlines():
        if not raw.strip():
            continue
        n += 1
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as e:
            bad.append((n, raw, f"not valid JSON: {e.msg} at column {e.colno}", "bad_json"))
            continue
        if isinstance(item, dict):
            good.append((n, _flatten(item)))
        else:
            bad.append((n, raw, f"record is a {type(item).__name__}, not an object", "not_an_object"))
    frame, columns = _text_frame(good, options)
    return ReadResult(frame, columns, codec, _rejects(bad), n)


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
