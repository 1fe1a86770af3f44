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

import atexit
import codecs
import contextlib
import csv
import io
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import polars as pl

from corpusmill.config import Format, ReadOptions, is_uri

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

CHUNK = 1 << 20  # 1 MiB: streaming reads, hashing and transcoding
SAMPLE = 1 << 20  # bytes looked at for encoding detection
RAW_MAX = 500  # raw_value is truncated to this many characters

REJECT_SCHEMA = pl.Schema(
    {"_row": pl.Int64(), "raw_value": pl.String(), "reason": pl.String(), "check": pl.String()}
)

_UTF8 = frozenset({"utf-8", "utf-8-sig"})
_GB_FAMILY = frozenset({"gb2312", "gbk", "hz", "gb18030", "cp936"})
_SNIFF_DELIMITERS = ",;\t|"


class ReaderError(ValueError):
    """A file that cannot be read as declared; the message names the file and the problem."""


@dataclass
class ReadResult:
    """What a table reader delivers.

    Warnings
    --------
    ``frame`` is lazy and may read a transcoded temporary file when collected. Keep the result (or
    pass ``workdir``) until you have collected it; :meth:`close` removes its temporary files early.
    Without ``workdir`` temporary files live in one process temp folder removed at exit.
    """

    frame: pl.LazyFrame
    columns: list[str]
    encoding: str | None
    rejects: pl.DataFrame
    rows_delivered: int | None
    temp_files: list[Path] = field(default_factory=list, repr=False)

    def close(self) -> None:
        for p in self.temp_files:
            with contextlib.suppress(OSError):
                p.unlink()
        self.temp_files.clear()

    def __enter__(self) -> ReadResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Document:
    text: str
    title: str | None
    encoding: str | None
    pages: int | None


# -- files, temp space, hashing -------------------------------------------------------------------

_PROCESS_TMP: Path | None = None


def _tmpdir(workdir: Path | None) -> Path:
    global _PROCESS_TMP
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        return Path(workdir)
    if _PROCESS_TMP is None:
        _PROCESS_TMP = Path(tempfile.mkdtemp(prefix="corpusmill-read-"))
        atexit.register(shutil.rmtree, _PROCESS_TMP, True)
    return _PROCESS_TMP


def _open(path: str, storage_options: dict | None) -> BinaryIO:
    if is_uri(path):
        import fsspec

        return fsspec.open(path, "rb", **(storage_options or {})).open()
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        msg = f"{path}: file not found"
        raise ReaderError(msg) from None
    except IsADirectoryError:
        msg = f"{path}: is a folder, expected a file"
        raise ReaderError(msg) from None


def _local(path: str, storage_options: dict | None, workdir: Path | None, temps: list[Path]) -> Path:
    """A local path for ``path``: itself, or a streamed copy of a remote object in temp space."""
    if not is_uri(path):
        p = Path(path)
        if not p.exists():
            msg = f"{path}: file not found"
            raise ReaderError(msg)
        return p
    fd, name = tempfile.mkstemp(prefix="remote-", suffix=Path(path).suffix, dir=_tmpdir(workdir))
    temps.append(Path(name))
    with _open(path, storage_options) as src, open(fd, "wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
    return Path(name)


def sha256_file(path: str | Path, storage_options: dict | None = None) -> str:
    """SHA-256 of a file's bytes (local path or URI), read in 1 MiB chunks."""
    import hashlib

    h = hashlib.sha256()
    with _open(str(path), storage_options) as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# -- encodings ------------------------------------------------------------------------------------


def _codec_name(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        msg = f"unknown encoding {name!r} (use a Python codec name such as utf-8, gb18030, utf-16)"
        raise ReaderError(msg) from None


def _looks_binary(data: bytes) -> bool:
    if not data:
        return False
    if b"\x00" in data:
        return True
    controls = sum(data.count(bytes([c])) for c in (*range(1, 9), 11, *range(14, 27), *range(28, 32)))
    return controls > max(1, len(data) // 100)


def detect_encoding(data: bytes) -> str:
    """The codec of a sample of text bytes.

    A byte-order mark decides (``utf-8-sig``, ``utf-16``, ``utf-32``); bytes that are valid UTF-8
    are ``utf-8``; otherwise charset-normalizer decides, with GB2312/GBK mapped to their superset
    ``gb18030``. UTF-16 without a BOM is not detected (declare it).

    Raises
    ------
    ReaderError
        The bytes are not text in any encoding ("not text: ...").
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _looks_binary(data):
        msg = "not text: the bytes contain NUL or control characters (binary data?)"
        raise ReaderError(msg)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        msg = "not text: no text encoding fits these bytes"
        raise ReaderError(msg)
    best = matches[0]
    # Short CJK samples often tie (big5, cp949, gb18030 ... all at chaos 0); this product's
    # sources are mostly Chinese plants, so a tie that includes the GB family goes to gb18030.
    tied = [m for m in matches if m.chaos <= best.chaos and m.coherence >= best.coherence]
    if any(_codec_name(m.encoding) in _GB_FAMILY for m in tied):
        return "gb18030"
    name = _codec_name(best.encoding)
    if name in _GB_FAMILY:
        return "gb18030"
    if name == "ascii":
        return "utf-8"
    return name


def _decode_error(path: str, codec: str, offset: int, line: int, detail: str) -> ReaderError:
    msg = (
        f"{path}: cannot decode as {codec} at byte offset {offset} (line {line}): {detail}; "
        "declare the right read.encoding or use 'auto'"
    )
    return ReaderError(msg)


def _stream_decode(src: Path, codec: str, shown: str, out: io.TextIOBase | None) -> None:
    """Decode ``src`` chunk by chunk (writing UTF-8 to ``out`` if given); raise on the first error."""
    dec = codecs.getincrementaldecoder(codec)(errors="strict")
    offset = 0
    newlines = 0
    with open(src, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            final = not chunk
            try:
                pending = dec.getstate()[0]
                text = dec.decode(chunk, final=final)
            except UnicodeDecodeError as e:
                pend = len(pending) if isinstance(pending, bytes) else 0
                at = max(0, offset - pend + e.start)
                before = chunk[: max(0, e.start - pend)].decode(codec, errors="replace")
                line = newlines + before.count("\n") + 1
                raise _decode_error(shown, codec, at, line, e.reason) from None
            if out is not None and text:
                out.write(text)
            newlines += text.count("\n")
            offset += len(chunk)
            if final:
                return


def _resolve_encoding(path: str, local: Path, options: ReadOptions) -> tuple[str, bytes]:
    with open(local, "rb") as f:
        sample = f.read(SAMPLE)
    if options.encoding.lower() == "auto":
        try:
            return detect_encoding(sample), sample
        except ReaderError as e:
            msg = f"{path}: {e}"
            raise ReaderError(msg) from None
    codec = _codec_name(options.encoding)
    if codec == "utf-8" and sample.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    return codec, sample


def _utf8_path(
    path: str, local: Path, codec: str, workdir: Path | None, temps: list[Path]
) -> Path:
    """``local`` itself when UTF-8, else a streamed UTF-8 transcoding of it in temp space."""
    if codec in _UTF8:
        return local
    fd, name = tempfile.mkstemp(prefix="utf8-", suffix=".txt", dir=_tmpdir(workdir))
    temps.append(Path(name))
    with open(fd, "w", encoding="utf-8", newline="") as out:
        _stream_decode(local, codec, path, out)
    return Path(name)


def _text_sample(text_path: Path, n: int = 1 << 16) -> list[str]:
    with open(text_path, "rb") as f:
        data = f.read(n)
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = text.split("\n")
    if len(data) == n and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    return [ln.removesuffix("\r") for ln in lines]


# -- rejects --------------------------------------------------------------------------------------


def _rejects(rows: Iterable[tuple[int, str, str, str]]) -> pl.DataFrame:
    rows = list(rows)
    return pl.DataFrame(
        {
            "_row": [r[0] for r in rows],
            "raw_value": [r[1][:RAW_MAX] for r in rows],
            "reason": [r[2] for r in rows],
            "check": [r[3] for r in rows],
        },
        schema=REJECT_SCHEMA,
    )


def _fields_reason(n: int, width: int) -> str:
    return f"row has {n} field{'s' if n != 1 else ''}, header has {width}"


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


def _empty_result(options: ReadOptions, codec: str | None) -> ReadResult:
    cols = list(options.columns or []) if not options.header else []
    schema = {c: pl.String() for c in cols} | {"_row": pl.Int64()}
    return ReadResult(pl.LazyFrame(schema=schema), cols, codec, _rejects([]), 0)


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


def _decode_all(path: str, local: Path, options: ReadOptions) -> tuple[str, str]:
    codec, _ = _resolve_encoding(path, local, options)
    data = local.read_bytes()
    try:
        return data.decode(codec).removeprefix("\ufeff"), codec
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise _decode_error(path, codec, e.start, line, e.reason) from None


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
