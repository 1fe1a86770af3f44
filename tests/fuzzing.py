"""What every fuzzer of the readers and the sources loader checks, one definition for both
engines (hypothesis in ``tests/test_fuzz.py``, atheris in ``tests/fuzz_atheris.py``).

The promises: a file that cannot be read fails with the project's typed error
(:class:`~corpusmill.readers.ReaderError`, :class:`~corpusmill.config.ConfigError`) and a message,
never a parser's own (polars ``ComputeError``, pyarrow, openpyxl, ``sqlite3``, pypdf,
``UnicodeDecodeError``); and no row is dropped silently: the rows a reader yields, batch by batch
as the ingest reads them, plus its rejects are the records it counted.
"""

from __future__ import annotations

import io
import sqlite3
import tempfile
from pathlib import Path
from typing import NamedTuple

import polars as pl

from corpusmill import config, readers
from corpusmill.config import ReadOptions

#: small batches, so a multi-batch file and an error in a later batch are reached with few bytes
BATCH_ROWS = 3


def _write(data: bytes, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix)
    with open(fd, "wb") as f:
        f.write(data)
    return Path(name)


def read_checked(data: bytes, fmt: str, options: ReadOptions) -> str:
    """Read ``data`` as a ``fmt`` file the way the ingest does; ``"error"`` or ``"rows"``."""
    path = _write(data, f".{fmt}")
    try:
        try:
            with readers.read_table(str(path), fmt, options) as rr:
                batches = list(rr.batches(BATCH_ROWS))
        except readers.ReaderError as e:
            assert str(e).strip()
            return "error"
        frame = pl.concat(batches) if batches else rr.frame.clear().collect()
        assert frame.columns[-1] == "_row"
        if rr.rows_delivered is not None:
            assert frame.height + rr.rejects.height == rr.rows_delivered, (data, frame, rr.rejects)
        rows = frame["_row"].to_list() + rr.rejects["_row"].to_list()
        assert len(rows) == len(set(rows)), "a record is both kept and rejected, or kept twice"
        return "rows"
    finally:
        path.unlink()


def document_checked(data: bytes, fmt: str) -> str:
    """Read ``data`` as a whole document (text, markdown, pdf); ``"error"`` or ``"text"``."""
    path = _write(data, f".{fmt}")
    try:
        try:
            doc = readers.read_document(str(path), fmt, ReadOptions())
        except readers.ReaderError as e:
            assert str(e).strip()
            return "error"
        assert isinstance(doc.text, str)
        doc.text.encode("utf-8")  # a lone surrogate would fail every writer after the reader
        return "text"
    finally:
        path.unlink()


def load_checked(text: str | bytes) -> str:
    """Load ``text`` (or raw bytes) as a sources file; ``"error"`` or ``"loaded"``."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "sources.yaml"
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            config.load(p)
        except config.ConfigError as e:
            assert str(e).strip()
            return "error"
        return "loaded"


# -- targets and seeds for byte-level fuzzing --------------------------------------------------


class Target(NamedTuple):
    """One thing to fuzz: how to read the bytes, and a valid input to start mutating from."""

    name: str
    kind: str  # table | document | sources
    fmt: str
    options: ReadOptions
    seed: bytes


def _excel_seed() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["time", "machine", "value"], ["2024-03-05 10:00", "CNC-01", 1.5],
                ["2024-03-05 10:01", "1号机床", None], [None, None, None], ["x", "y", "z", 4]):  # fmt: skip
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _parquet_seed() -> bytes:
    buf = io.BytesIO()
    frame = pl.DataFrame({"time": ["2024-03-05 10:00", None, "bad"], "value": [1.5, None, 3.0]})
    frame.write_parquet(buf, row_group_size=2, statistics=False)
    return buf.getvalue()


def _sqlite_seed() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "seed.sqlite"
        con = sqlite3.connect(p)
        con.execute("CREATE TABLE t (time TEXT, machine TEXT, value REAL)")
        con.executemany("INSERT INTO t VALUES (?, ?, ?)",
                        [("2024-03-05 10:00", "CNC-01", 1.5), ("x", None, None)])  # fmt: skip
        con.commit()
        con.close()
        return p.read_bytes()


def _pdf_seed() -> bytes:
    """A one-page PDF with one line of text, its cross-reference table at the right offsets."""
    text = b"BT /F1 12 Tf 72 720 Td (Spindle 3 overheats above 80 C) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)  # fmt: skip
    return bytes(out)


_SOURCES_SEED = b"""version: 1
data_roots: [data]
sources:
  - name: line
    site: plant
    kind: sensor
    path: data/*.csv
    format: csv
    fields: {ts_utc: time, equipment_id: machine, signal: tag, value: value}
    units: {value: degF}
    time: {timezone: Europe/Berlin, format: '%Y-%m-%d %H:%M'}
    read: {encoding: gb18030, delimiter: ';'}
"""


def targets() -> list[Target]:
    """Every reader and the sources loader, each with a valid seed (built here, nothing shipped)."""
    csv = "time,machine,value\n2024-03-05 10:00,CNC-01,1.5\n\"q,uoted\",1号机床,Bad\n".encode()
    gb = "时间;设备;值\n2024-03-05 10:00;1号机床;1,5\n".encode("gb18030")
    records = b'[{"time": "2024-03-05", "value": 1.5}, {"time": null, "value": "Bad"}]'
    lines = b'{"time": "2024-03-05", "value": 1.5}\n{"time": null}\n\n{"x": [1]}\n'
    md = "# Press manual\n\nSpindle 3 overheats above 80 °C. 主轴过热。\n".encode()
    auto = ReadOptions()
    return [
        Target("csv", "table", "csv", auto, csv),
        Target("csv_gb18030", "table", "csv", auto, gb),
        Target("tsv", "table", "tsv", auto, csv.replace(b",", b"\t")),
        Target("whitespace", "table", "whitespace", auto, csv.replace(b",", b"  ")),
        Target("csv_headerless", "table", "csv",
               ReadOptions(encoding="utf-8", header=False, columns=["a", "b"]), b"1,2\n3,4\n"),  # fmt: skip
        Target("json", "table", "json", auto, records),
        Target("jsonl", "table", "jsonl", auto, lines),
        Target("excel", "table", "excel", auto, _excel_seed()),
        Target("parquet", "table", "parquet", auto, _parquet_seed()),
        Target("sqlite", "table", "sqlite", ReadOptions(query="SELECT * FROM t"), _sqlite_seed()),
        Target("pdf", "document", "pdf", auto, _pdf_seed()),
        Target("markdown", "document", "markdown", auto, md),
        Target("text", "document", "text", auto, md),
        Target("sources", "sources", "yaml", auto, _SOURCES_SEED),
    ]


def check(target: Target, data: bytes) -> str:
    """Run ``data`` through ``target``'s reader with every promise checked; the outcome."""
    if target.kind == "table":
        return read_checked(data, target.fmt, target.options)
    if target.kind == "document":
        return document_checked(data, target.fmt)
    return load_checked(data)
