"""Delimited text tables: CSV, TSV (delimiter declared or sniffed) and whitespace-separated.

Every column is ``pl.String``; lines that cannot be rows are returned as rejects.

Ragged rows (CSV/TSV)
    A vectorised pre-check over raw lines (``pl.scan_lines``) counts delimiters per line; lines that
    contain the quote character are re-counted outside quoted segments. If any data line has an odd
    number of quote characters (a quoted field spanning lines), the pre-check falls back to Python's
    ``csv`` module over the whole file, which then also builds the rows (polars' parser aborts
    the whole file on a stray or unclosed quote). Rejected records are removed from ``frame`` by
    ``_row``.

Malformed quotes (fallback path)
    A record holding the quote character that is not valid CSV (a stray quote inside an unquoted
    field such as ``te"mp``, text after a closing quote, an unclosed quote) is rejected with the
    check ``malformed_quotes``; an unclosed quote runs to the end of the file, so that one record
    holds the rest of the file (its raw text says so).

Line endings
    ``\n`` and ``\r\n`` are read as delivered. A file whose sample has ``\r`` but no ``\n``
    (old Mac exports) is transcoded to ``\n`` endings in temp space first. A bare ``\r`` inside
    a line of a ``\n`` file stays part of its field.
"""

from __future__ import annotations

import csv
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from corpusmill.config import Format, ReadOptions
from corpusmill.readers.encoding import SAMPLE, _resolve_encoding, _stream_decode, _utf8_path
from corpusmill.readers.files import CHUNK, _tmpdir
from corpusmill.readers.results import ReadResult, _empty_result, _fields_reason, _rejects

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

_SNIFF_DELIMITERS = ",;\t|"


def _text_sample(text_path: Path, n: int = 1 << 16) -> list[str]:
    with open(text_path, "rb") as f:
        data = f.read(n)
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = text.split("\n")
    if len(data) == n and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    return [ln.removesuffix("\r") for ln in lines]


def _lf_path(text_path: Path, workdir: Path | None, temps: list[Path]) -> Path:
    """``text_path`` itself, or for a CR-only file (old Mac exports) a copy with LF endings."""
    with open(text_path, "rb") as f:
        sample = f.read(SAMPLE)
    if b"\r" not in sample or b"\n" in sample:
        return text_path
    fd, name = tempfile.mkstemp(prefix="lf-", suffix=".txt", dir=_tmpdir(workdir))
    temps.append(Path(name))
    with open(text_path, "rb") as src, open(fd, "wb") as out:
        while chunk := src.read(CHUNK):
            out.write(chunk.replace(b"\r", b"\n"))
    return Path(name)


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
        # a record with too many or too few fields is a reject (below), not a schema error
        kwargs["extra_columns"] = "ignore"
        kwargs["missing_columns"] = "insert"
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
    good: list[tuple[int, list[str]]] | None = None  # the csv-module path's good records


def _line_check(
    text_path: Path, options: ReadOptions, delim: str, width: int, data_start: int
) -> _Check | None:
    """Vectorised field-count check on raw lines; None when a quoted field spans lines.

    A file without the quote character anywhere (most machine exports) is checked as unquoted:
    one delimiter count per line, no quote tests."""
    line = pl.col("line")
    q = options.quote if options.quote and _holds(text_path, options.quote) else None
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
        # a line with an odd number of quotes (a field spanning lines) or quotes that are not
        # valid CSV (te"mp, "a"b) goes to the csv-module path, which rejects what is malformed
        valid = line.str.contains(f"^(?:{_valid_record(delim, q).pattern})$")
        lf = lf.with_columns(
            n=outside,
            odd=(line.str.count_matches(q, literal=True) % 2 == 1)
            | (line.str.contains(q, literal=True) & ~valid),
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


def _holds(path: Path, text: str) -> bool:
    """Whether the file's bytes contain ``text`` anywhere: a memchr scan per 8 MiB block.

    Blocks, not one ``mmap`` of the file: every page a mapping touches counts in the process's
    resident memory until it is unmapped, and a 2.6 GiB export then showed as a 2.7 GiB peak.
    """
    needle = text.encode("utf-8")
    keep = len(needle) - 1  # a needle cut by a block boundary is found in the next block
    block = bytearray(_SCAN_BLOCK + keep)
    view = memoryview(block)
    with open(path, "rb", buffering=0) as f:
        carried = 0
        while n := f.readinto(view[carried:carried + _SCAN_BLOCK]):
            end = carried + n
            if block.find(needle, 0, end) >= 0:
                return True
            carried = min(keep, end)
            block[:carried] = block[end - carried:end]
    return False


_SCAN_BLOCK = 8 << 20


_CR = "\ue000"  # a bare CR inside a line, hidden from the csv module (which splits on it)


def _valid_record(delim: str, quote: str) -> re.Pattern[str]:
    """A record that is valid CSV: fields either fully quoted (doubled quotes inside) or free of
    the quote character."""
    d, q = re.escape(delim), re.escape(quote)
    field = f"(?:{q}(?:[^{q}]|{q}{q})*{q}|[^{q}{d}\n]*)"
    return re.compile(f"{field}(?:{d}{field})*\r?", re.DOTALL)


def _csv_check(
    text_path: Path, options: ReadOptions, delim: str, width: int, header_idx: int
) -> _Check:
    """Record-exact field-count check with Python's csv module (quoted fields spanning lines);
    the good records are kept in ``_Check.good`` (the frame is built from them)."""
    rejects: list[tuple[int, str, str, str]] = []
    blanks: list[int] = []
    good: list[tuple[int, list[str]]] = []
    buf: list[str] = []
    valid = _valid_record(delim, options.quote) if options.quote else None

    def lines(f: Iterable[bytes]) -> Iterator[str]:
        for i, raw in enumerate(f):  # split on \n only: a bare \r stays inside its line
            if i < header_idx:
                continue
            ln = raw.decode("utf-8")
            if i == 0:
                ln = ln.removeprefix("\ufeff")
            buf.append(ln)
            body = ln.removesuffix("\n").removesuffix("\r")
            yield body.replace("\r", _CR) + ln[len(body) :]

    rec = 0
    with open(text_path, "rb") as f:
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
                else:  # a one-column file: a blank line is an empty value
                    good.append((rec, [""]))
                continue
            if valid is not None and options.quote in raw and not valid.fullmatch(raw):
                rejects.append((rec, raw, _quote_reason(raw, options.quote), "malformed_quotes"))
            elif len(fields) != width:
                rejects.append((rec, raw, _fields_reason(len(fields), width), "ragged_row"))
            else:
                good.append((rec, [v.replace(_CR, "\r") for v in fields]))
    return _Check(rejects, blanks, rec - len(blanks), good)


def _quote_reason(raw: str, quote: str) -> str:
    lines = raw.count("\n") + 1
    if raw.count(quote) % 2:
        tail = f"; it runs to the end of the file ({lines} lines)" if lines > 1 else ""
        return f"malformed quotes: an unclosed or stray {quote} in the record{tail}"
    return f"malformed quotes: a {quote} inside an unquoted field or text after a closing {quote}"


def _records_frame(check: _Check, columns: list[str], options: ReadOptions) -> pl.LazyFrame:
    """The good records of the csv-module path as a frame (blank records already renumbered)."""
    nulls, empty_null = _null_values(options)
    null_set = set(nulls)
    if empty_null:
        null_set.add("")
    data: dict[str, list[str | None]] = {c: [] for c in columns}
    for _, fields in check.good or []:
        for c, v in zip(columns, fields, strict=True):
            data[c].append(None if v in null_set else v)
    rows = [r for r, _ in check.good or []]
    if check.blanks:
        import bisect

        blanks = sorted(check.blanks)
        rows = [r - bisect.bisect_left(blanks, r) for r in rows]
    schema = {c: pl.String() for c in columns} | {"_row": pl.Int64()}
    return pl.DataFrame(data | {"_row": rows}, schema=schema).lazy()


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
    text_path = _lf_path(text_path, workdir, temps)
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
        _, rejects = _renumber(probe, check)
        frame = _records_frame(check, columns, options)
        return ReadResult(frame, columns, codec, rejects, check.records, temps)
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
