"""Fuzzing the readers and the sources loader with malformed bytes and YAML (hypothesis,
derandomized so CI runs the same cases every time; the byte-level, coverage-guided fuzzer of
every format is ``tests/fuzz_atheris.py``).

The promises checked (``tests/fuzzing.py``): every failure is the project's typed error with a
message, never a parser's own, and no row is dropped silently.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from corpusmill import config, readers
from corpusmill.config import ConfigError, ReadOptions
from tests.fuzzing import load_checked, read_checked, targets
from tests.test_ingest import _project, _quarantine, _run

FUZZ = settings(
    derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip

#: Bytes that matter to a delimited parser, and a few that do not.
_CSV_BYTES = st.sampled_from(
    [b",", b";", b"\t", b" ", b'"', b"'", b"\n", b"\r", b"\r\n", b"a", b"1", b"-", b".", b"e",
     b"inf", b"\xef\xbb\xbf", b"\xff", b"\xe4\xb8\xad", b"\x00", b"#", b"NA", b"\\"]
)  # fmt: skip
csv_bytes = st.lists(_CSV_BYTES, max_size=80).map(b"".join)
header_plus = st.tuples(
    st.sampled_from([b"a,b,c\n", b"a,b\r\n", b"x\n", b'"a","b"\n', b""]), csv_bytes
).map(b"".join)


@settings(FUZZ, max_examples=300)
@given(data=header_plus, fmt=st.sampled_from(["csv", "tsv", "whitespace"]))
@example(data=b'a,b,c\n\n"', fmt="tsv")  # found: a blank line in a one-column file was lost
def test_fuzz_delimited_reader(data: bytes, fmt: str) -> None:
    read_checked(data, fmt, ReadOptions())


@settings(FUZZ, max_examples=300)
@given(data=csv_bytes)
@example(data=b",,")  # found: too many fields in a headerless file was a polars SchemaError
@example(data=b"a")  # found: too few fields likewise
@example(data=b';\n;"",')  # found: text after a closing quote was a polars ComputeError
def test_fuzz_delimited_reader_declared_utf8_headerless(data: bytes) -> None:
    read_checked(data, "csv", ReadOptions(encoding="utf-8", header=False, columns=["a", "b"]))


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3), kids, max_size=3),
    max_leaves=8,
)


@settings(FUZZ, max_examples=200)
@example(doc=[{"k": "\ud800"}], cut=0, noise=b"", fmt="json")  # found: a lone surrogate escape
@example(doc=[{"k": "\ud800"}], cut=0, noise=b"", fmt="jsonl")  # was a UnicodeEncodeError
@given(
    doc=st.lists(_JSON_VALUES, max_size=6),
    cut=st.integers(min_value=0, max_value=200),
    noise=st.binary(max_size=4),
    fmt=st.sampled_from(["json", "jsonl"]),
)
def test_fuzz_json_readers(doc: list, cut: int, noise: bytes, fmt: str) -> None:
    if fmt == "json":
        text = json.dumps(doc).encode()
    else:
        text = b"\n".join(json.dumps(d).encode() for d in doc)
    data = text[:cut] + noise + text[cut:] if cut < len(text) else text
    read_checked(data, fmt, ReadOptions())


# -- the sources file ---------------------------------------------------------------------------

_BASE = {
    "version": 1,
    "data_roots": ["data"],
    "sources": [{
        "name": "line", "site": "plant", "kind": "sensor", "path": "data/*.csv", "format": "csv",
        "fields": {"ts_utc": "time", "signal": "tag", "value": "value"},
        "units": {"value": "degC"}, "time": {"timezone": "UTC"},
    }],
}  # fmt: skip
_KEYS = ["name", "site", "kind", "path", "format", "fields", "units", "time", "read", "shape",
         "wide", "batch", "unit_aliases", "signal_units", "equipment", "bogus"]  # fmt: skip
_ODD = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8),
    st.sampled_from(["F", "C", "degF?", "%y-%m-%d", "%Q", "wide", "csv", "", "~", "yes", "1e309"]),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.sampled_from(["value", "format", "two_digit_year", "unit", "x"]),
                    st.one_of(st.text(max_size=5), st.integers(), st.none()), max_size=2),
)  # fmt: skip


@FUZZ
@given(key=st.sampled_from(_KEYS), value=_ODD)
def test_fuzz_sources_yaml_values(key: str, value: object) -> None:
    doc = json.loads(json.dumps(_BASE))
    doc["sources"][0][key] = value
    load_checked(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(cut=st.integers(min_value=0, max_value=400), junk=st.text(max_size=6))
def test_fuzz_sources_yaml_text(cut: int, junk: str) -> None:
    text = yaml.safe_dump(_BASE)
    load_checked(text[:cut] + junk + text[cut:])


# -- whole ingest: conservation -----------------------------------------------------------------

_CELLS = st.sampled_from(
    ["2024-03-05 10:00:00", "24-03-05 10:00", "x", "", '"', 'te"mp', "inf", "nan", "1e309", "1.5",
     "-3", " 7 ", "CNC-01", "temp", "\r", "F", "degC"]
)  # fmt: skip
_ROWS = st.lists(st.lists(_CELLS, min_size=2, max_size=5), max_size=8)


@settings(FUZZ, max_examples=40)
@given(rows=_ROWS)
def test_fuzz_ingest_conserves_rows(rows: list[list[str]]) -> None:
    text = "time,machine,tag,value,u\n" + "".join(",".join(r) + "\n" for r in rows)
    sources = (
        "  - name: line\n    site: plant\n    kind: sensor\n    path: data/*.csv\n"
        "    format: csv\n    fields: {ts_utc: time, equipment_id: machine, signal: tag, "
        "value: value, unit: u}\n"
    )
    with tempfile.TemporaryDirectory() as d:
        cfg, root = _project(Path(d), sources, {"a.csv": text})
        (fr,) = _run(cfg, root).files
        if fr.status == "failed":
            assert fr.message
            return
        assert fr.units_in == fr.rows_kept + fr.rows_quarantined, (text, fr)
        staged = root / "staged"
        assert staged.exists() or fr.rows_kept == 0



# -- what the byte-level fuzzer (tests/fuzz_atheris.py) found, pinned ---------------------------


def test_sources_file_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    p = tmp_path / "sources.yaml"
    p.write_bytes(b"version: 1\nsources:\n  - name: caf\xe9\n")  # found: a raw UnicodeDecodeError
    with pytest.raises(ConfigError, match=r"not UTF-8: byte 0xe9 at offset 33 \(line 3\)"):
        config.load(p)


def test_unbalanced_unit_is_refused_when_the_sources_file_loads(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(_BASE))
    doc["sources"][0]["units"] = {"value": "degC("}  # found: pint's tokenize.TokenError leaked
    p = tmp_path / "sources.yaml"
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown unit 'degC\('"):
        config.load(p)


def test_unbalanced_unit_in_a_data_cell_is_quarantined(tmp_path: Path) -> None:
    sources = (
        "  - name: line\n    site: plant\n    kind: sensor\n    path: data/*.csv\n"
        "    format: csv\n    fields: {ts_utc: time, equipment_id: machine, signal: tag, "
        "value: value, unit: u}\n"
    )
    text = ("time,machine,tag,value,u\n2024-03-05 10:00,CNC-01,temp,20,degC\n"
            "2024-03-05 10:01,CNC-01,temp,21,degC(\n")  # fmt: skip
    cfg, root = _project(tmp_path, sources, {"a.csv": text})
    (fr,) = _run(cfg, root).files
    assert (fr.status, fr.rows_kept, fr.rows_quarantined) == ("ingested", 1, 1)
    q = _quarantine(root)
    assert q.select("_row", "raw_value").rows() == [(2, "degC(")]
    assert "unknown unit 'degC('" in q["reason"][0]


def test_excel_is_read_whatever_the_file_is_named(tmp_path: Path) -> None:
    (target,) = [t for t in targets() if t.name == "excel"]
    p = tmp_path / "lab export.dat"  # found: openpyxl refused any name not ending in .xlsx
    p.write_bytes(target.seed)
    with readers.read_table(str(p), "excel", ReadOptions()) as rr:
        assert rr.collect().select("machine", "_row").rows() == [("CNC-01", 1), ("1号机床", 2)]


def test_a_pdf_whose_page_names_no_parent_is_a_reader_error(tmp_path: Path) -> None:
    p = tmp_path / "manual.pdf"  # found: pypdf's AttributeError from deep in extract_text
    p.write_bytes(
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages "
        b"/Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 0 0 R /MediaBox "
        b"[0 0 6120 n \n0000000115 00000 n \n0000000241 00000 n \n0000000352 00000 n \ntrailer\n"
        b"<< /Size 6 /Root 1 0 R >>\nstartxref\n422\n%%EOF\n"
    )
    with pytest.raises(readers.ReaderError, match="manual.pdf: not a readable PDF: 'NoneType'"):
        readers.read_document(str(p), "pdf", ReadOptions())


FEWER_ROWS = Path(__file__).parent / "fixtures" / "fuzz" / "parquet-footer-counts-more-rows.parquet"


def test_a_parquet_file_that_decodes_to_fewer_rows_than_its_footer_is_an_error() -> None:
    # found: the footer says 3 rows (row groups of 2 and 1); polars' decoder panics in a worker
    # thread, and either the panic reaches Python (pyo3's PanicException, a BaseException) or
    # the stream simply ends with no row and no error
    either = r"parquet-footer-counts-more-rows.parquet: cannot read as parquet: (the file holds 3 records but 0 rows were read|.*Panic)"
    with readers.read_table(str(FEWER_ROWS), "parquet", ReadOptions()) as rr:
        assert rr.rows_delivered == 3
        for _ in range(3):
            with pytest.raises(readers.ReaderError, match=either):
                list(rr.batches(1000))
            with pytest.raises(readers.ReaderError, match=either):
                rr.collect()


def test_the_ingest_quarantines_the_file_and_says_why(tmp_path: Path) -> None:
    sources = (
        "  - name: line\n    site: plant\n    kind: sensor\n    path: data/*.parquet\n"
        "    format: parquet\n    fields: {ts_utc: time, value: value}\n    constants: {signal: temp}\n"
        "    equipment: CNC-01\n"
    )
    cfg, root = _project(tmp_path, sources, {"a.parquet": FEWER_ROWS.read_bytes()})
    (fr,) = _run(cfg, root).files
    assert fr.status == "failed" and "a.parquet: cannot read as parquet: " in fr.message
    q = _quarantine(root)
    assert q["check"].to_list() == ["unreadable_file"]


def test_a_sqlite_text_cell_that_is_not_utf8_rejects_its_row(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "lab.sqlite"  # found: sqlite3's UnicodeDecodeError ended the whole read
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (lot TEXT, value REAL, raw BLOB)")
    con.execute("INSERT INTO t VALUES ('L1', 1.5, x'ff00')")
    con.execute("INSERT INTO t VALUES (CAST(x'4c32ff' AS TEXT), 2.5, NULL)")
    con.commit()
    con.close()
    with readers.read_table(str(db), "sqlite", ReadOptions(query="SELECT * FROM t")) as rr:
        good = rr.collect()
        assert good.select("lot", "value", "raw", "_row").rows() == [("L1", 1.5, b"\xff\x00", 1)]
        assert rr.rejects.select("_row", "check").rows() == [(2, "bad_text")]
        assert rr.rejects["reason"][0] == "column 'lot': text is not UTF-8 (byte 0xff at offset 2)"
        assert rr.rejects["raw_value"][0] == "b'L2\\xff',2.5,None"


def test_a_sqlite_column_name_that_is_not_utf8_is_a_reader_error(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "lab.sqlite"
    con = sqlite3.connect(db)
    con.execute('CREATE TABLE t ("abcd" TEXT)')
    con.execute("INSERT INTO t VALUES ('x')")
    con.commit()
    con.close()
    data = bytearray(db.read_bytes())
    data[data.find(b'"abcd"') + 2] = 0xFF  # the schema SQLite stores now names column "a\xffcd"
    db.write_bytes(bytes(data))
    with pytest.raises(readers.ReaderError, match="lab.sqlite: a column name in the result is not UTF-8"):
        readers.read_table(str(db), "sqlite", ReadOptions(query="SELECT * FROM t"))
