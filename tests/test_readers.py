"""Readers on small inline files: encodings, delimiters, ragged rows, every format."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from corpusmill.config import ReadOptions
from corpusmill.readers import ReaderError, detect_encoding, read_document, read_table, sha256_file

EXCAVATORS = Path(__file__).parent / "fixtures" / "real-datasets" / "excavator-mwo" / "excavators.csv"


def _write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> str:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return str(p)


def _read(path: str, fmt: str = "csv", **opts) -> tuple[pl.DataFrame, pl.DataFrame, object]:
    r = read_table(path, fmt, ReadOptions(**opts))
    return r.frame.collect(), r.rejects, r


def test_gb18030_chinese_headers_detected(tmp_path):
    text = "设备,温度,状态\n" + "1号机床,23.5,正常\n2号机床,Bad,停机\n3号机床,24.1,正常运行中\n" * 5
    p = _write(tmp_path, "gb.csv", text, "gb18030")
    df, rej, r = _read(p)
    assert r.encoding == "gb18030"
    assert r.columns == ["设备", "温度", "状态"]
    assert df["设备"][0] == "1号机床"
    assert df["温度"][1] == "Bad"  # no type inference: text survives
    assert df.schema["温度"] == pl.String and df.schema["_row"] == pl.Int64
    assert df["_row"].to_list() == list(range(1, 16)) and rej.is_empty()


def test_utf16_with_bom(tmp_path):
    p = _write(tmp_path, "u16.csv", "a\tb\n1\t温度\n", "utf-16")
    df, _, r = _read(p, "tsv")
    assert r.encoding == "utf-16"
    assert df.select("a", "b").rows() == [("1", "温度")]


def test_bom_stripped_from_first_header(tmp_path):
    p = _write(tmp_path, "bom.csv", b"\xef\xbb\xbfts,value\n2024-01-01,1\n")
    df, _, r = _read(p)
    assert r.encoding == "utf-8-sig"
    assert r.columns == ["ts", "value"]


@pytest.mark.parametrize("delim", [";", "|", "\t"])
def test_sniffed_delimiters(tmp_path, delim):
    rows = ["id,name,value".replace(",", delim)] + [
        f"{i}{delim}pump {i}{delim}{i}.5" for i in range(5)
    ]
    p = _write(tmp_path, "d.csv", "\n".join(rows) + "\n")
    df, rej, r = _read(p)
    assert r.columns == ["id", "name", "value"]
    assert df.height == 5 and rej.is_empty()


def test_quoted_fields_with_delimiters_and_newlines(tmp_path):
    p = _write(
        tmp_path,
        "q.csv",
        'id,text,cost\n1,"leak, at seal",10\n2,"line one\nline two",20\n3,"say ""hi""",30\n4,x\n',
    )
    df, rej, r = _read(p)
    assert df["text"].to_list() == ["leak, at seal", "line one\nline two", 'say "hi"']
    assert df["_row"].to_list() == [1, 2, 3]
    assert rej.rows() == [(4, "4,x", "row has 2 fields, header has 3", "ragged_row")]
    assert r.rows_delivered == 4


def test_quoted_delimiter_on_single_lines_uses_fast_path(tmp_path):
    p = _write(tmp_path, "q.csv", 'id,text\n1,"a,b"\n2,"c,d",extra\n3,plain\n')
    df, rej, _ = _read(p)
    assert df["text"].to_list() == ["a,b", "plain"]
    assert rej["_row"].to_list() == [2]


def test_quote_far_past_the_sample_is_still_seen(tmp_path):
    # the quote-free shortcut scans the whole file: a quoted delimiter on the last line of a
    # file far larger than the sample is one field, and a stray quote there is still rejected
    plain = "".join(f"{i},v{i}\n" for i in range(1, 200_001))
    p = _write(tmp_path, "late.csv", "id,text\n" + plain + '200001,"a,b"\n200002,te"mp\n')
    df, rej, _ = _read(p)
    assert df.height == 200_001 and df["text"][-1] == "a,b"
    assert rej.select("_row", "check").rows() == [(200_002, "malformed_quotes")]


def test_whitespace_numeric(tmp_path):
    p = _write(tmp_path, "w.txt", "t   x    y\n0.0  1.5  -2\n\n 1.0\t2.5   3\n2.0 9\n")
    df, rej, r = _read(p, "whitespace")
    assert r.columns == ["t", "x", "y"]
    assert df.select("t", "x", "y", "_row").rows() == [("0.0", "1.5", "-2", 1), ("1.0", "2.5", "3", 2)]
    assert rej.select("_row", "check").rows() == [(3, "ragged_row")]
    assert r.rows_delivered == 3


def test_headerless_with_columns(tmp_path):
    p = _write(tmp_path, "h.csv", "1,2\n3,4\n")
    df, _, r = _read(p, header=False, columns=["a", "b"])
    assert r.columns == ["a", "b"]
    assert df.rows() == [("1", "2", 1), ("3", "4", 2)]


def test_ragged_rows_exact_numbers_and_exclusion(tmp_path):
    body = "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n\n13,14,15\n16,17"  # truncated last line
    p = _write(tmp_path, "r.csv", body)
    df, rej, _ = _read(p)
    # Blank line not counted: data rows are 1..6
    assert df["_row"].to_list() == [1, 4, 5]
    assert df["a"].to_list() == ["1", "10", "13"]
    assert rej.rows() == [
        (2, "4,5", "row has 2 fields, header has 3", "ragged_row"),
        (3, "6,7,8,9", "row has 4 fields, header has 3", "ragged_row"),
        (6, "16,17", "row has 2 fields, header has 3", "ragged_row"),
    ]
    assert sorted(df["_row"].to_list() + rej["_row"].to_list()) == list(range(1, 7))


def test_skip_rows_and_comments_not_counted(tmp_path):
    p = _write(tmp_path, "c.csv", "exported by X\na,b\n1,2\n# note\n3,4\n5\n")
    df, rej, _ = _read(p, skip_rows=1, comment="#")
    assert df.select("a", "_row").rows() == [("1", 1), ("3", 2)]
    assert rej["_row"].to_list() == [3]


def test_null_values(tmp_path):
    p = _write(tmp_path, "n.csv", "a,b\nNA,Bad\n,x\n")
    df, _, _ = _read(p)
    assert df["a"].to_list() == [None, None]
    assert df["b"].to_list() == ["Bad", "x"]


def test_empty_and_header_only(tmp_path):
    df, rej, r = _read(_write(tmp_path, "e.csv", b""))
    assert df.height == 0 and rej.is_empty() and r.columns == []
    df, rej, r = _read(_write(tmp_path, "h.csv", "a,b\n"))
    assert df.height == 0 and r.columns == ["a", "b"] and df.columns == ["a", "b", "_row"]


def test_binary_garbage_names_file(tmp_path):
    p = _write(tmp_path, "garbage.csv", bytes(range(256)) * 8)
    with pytest.raises(ReaderError, match=r"garbage\.csv.*not text"):
        read_table(p, "csv", ReadOptions())


def test_wrong_declared_encoding_names_codec(tmp_path):
    p = _write(tmp_path, "gb.csv", "a,b\n1,2\n3,温度\n", "gb18030")
    with pytest.raises(ReaderError, match=r"gb\.csv.*utf-8.*byte offset 10 \(line 3\)"):
        read_table(p, "csv", ReadOptions(encoding="utf-8"))


def test_invalid_utf8_late_in_autodetected_file(tmp_path):
    # Detection looks at the first 1 MiB only; the bad byte comes after it.
    p = _write(tmp_path, "late.csv", b"a,b\n" + b"1,2\n" * 300_000 + b"3,\xff\n")
    with pytest.raises(ReaderError, match=r"late\.csv.*utf-8.*line 300002"):
        read_table(p, "csv", ReadOptions()).frame.collect()


def test_detect_encoding_rules():
    assert detect_encoding(b"\xef\xbb\xbfx") == "utf-8-sig"
    assert detect_encoding("x".encode("utf-16")) == "utf-16"
    assert detect_encoding(b"plain") == "utf-8"
    assert detect_encoding(("温度传感器故障，需要更换。" * 20).encode("gbk")) == "gb18030"


def test_excel_two_sheets(tmp_path):
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "line1"
    ws.append(["machine", "temp"])
    ws.append(["CNC-01", 21.5])
    ws.append([None, None])
    ws.append(["CNC-02", 22.0])
    ws2 = wb.create_sheet("line2")
    ws2.append(["machine", "temp"])
    ws2.append(["1号机床", "Bad"])
    ws2.append(["x", 1, "extra"])
    p = tmp_path / "book.xlsx"
    wb.save(p)
    r = read_table(str(p), "excel", ReadOptions(sheet=["line1", "line2"]))
    df = r.frame.collect()
    assert df.select("machine", "_sheet", "_row").rows() == [
        ("CNC-01", "line1", 1), ("CNC-02", "line1", 3), ("1号机床", "line2", 1),
    ]  # fmt: skip
    assert df.schema["temp"] == pl.String  # mixed numbers and "Bad" become text
    assert r.rejects.select("_row", "check").rows() == [(2, "ragged_row")]
    one = read_table(str(p), "excel", ReadOptions(sheet=0)).frame.collect()
    assert "_sheet" not in one.columns and one.schema["temp"] == pl.Float64


def test_json_nested_with_path(tmp_path):
    doc = {"data": {"items": [{"id": 1, "m": {"temp": 20.5, "unit": "degC"}}, {"id": 2, "m": {}}, 3]}}
    p = _write(tmp_path, "j.json", json.dumps(doc))
    r = read_table(p, "json", ReadOptions(json_path="data.items"))
    df = r.frame.collect()
    assert r.columns == ["id", "m.temp", "m.unit", "m"]
    assert df.row(0) == ("1", "20.5", "degC", None, 1)
    assert r.rejects.select("_row", "check").rows() == [(3, "not_an_object")]
    with pytest.raises(ReaderError, match="json_path"):
        read_table(p, "json", ReadOptions())


def test_jsonl_broken_line(tmp_path):
    p = _write(tmp_path, "j.jsonl", '{"a": 1}\n{"a": 2, "b": {"c": "x"}}\n{"a": 3,\n\n{"a": 4}\n')
    r = read_table(p, "jsonl", ReadOptions())
    df = r.frame.collect()
    assert df.select("a", "b.c", "_row").rows() == [("1", None, 1), ("2", "x", 2), ("4", None, 4)]
    assert r.rejects.select("_row", "raw_value", "check").rows() == [(3, '{"a": 3,', "bad_json")]
    assert r.rows_delivered == 4


def test_parquet(tmp_path):
    p = tmp_path / "p.parquet"
    pl.DataFrame({"v": [1.0, 2.0]}).write_parquet(p)
    r = read_table(str(p), "parquet", ReadOptions())
    assert r.frame.collect().rows() == [(1.0, 1), (2.0, 2)] and r.rows_delivered == 2


def test_sqlite_query(tmp_path):
    p = tmp_path / "m.db"
    con = sqlite3.connect(p)
    con.execute("create table t (id integer, val real, note text)")
    con.executemany("insert into t values (?,?,?)", [(1, 1.5, "ok"), (2, "Bad", None), (3, 2.0, "x")])
    con.commit()
    con.close()
    r = read_table(str(p), "sqlite", ReadOptions(query="select id, val from t where id < 3"))
    df = r.frame.collect()
    assert r.columns == ["id", "val"] and df["_row"].to_list() == [1, 2]
    assert df["val"].to_list() == ["1.5", "Bad"]  # SQLite's mixed column kept as text
    with pytest.raises(ReaderError, match="no such table"):
        read_table(str(p), "sqlite", ReadOptions(query="select * from nope"))


def test_markdown_and_text(tmp_path):
    p = _write(tmp_path, "sop.md", "intro\n# Pump SOP #\n\n## Step 1\n", "gb18030")
    d = read_document(p, "markdown", ReadOptions())
    assert d.title == "Pump SOP" and d.text.startswith("intro")
    d = read_document(_write(tmp_path, "a.txt", "温度传感器故障，需要更换。" * 10, "gbk"), "text", ReadOptions())
    assert d.encoding == "gb18030" and d.title is None


def _minimal_pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (Pump manual) >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, xref,
    )  # fmt: skip
    return out


def test_pdf(tmp_path):
    p = _write(tmp_path, "m.pdf", _minimal_pdf("Check the seal weekly"))
    d = read_document(p, "pdf", ReadOptions())
    assert "Check the seal weekly" in d.text
    assert d.pages == 1 and d.title == "Pump manual" and d.encoding is None


def test_sha256(tmp_path):
    import hashlib

    p = _write(tmp_path, "x.bin", b"abc" * 1000)
    assert sha256_file(p) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_workdir_and_close(tmp_path):
    p = _write(tmp_path, "gb.csv", "a\n温度\n", "gb18030")
    work = tmp_path / "work"
    with read_table(p, "csv", ReadOptions(), workdir=work) as r:
        assert r.frame.collect()["a"].to_list() == ["温度"]
        assert list(work.iterdir())
    assert not list(work.iterdir())


def test_real_excavators_file():
    r = read_table(str(EXCAVATORS), "csv", ReadOptions())
    df = r.frame.collect()
    assert r.columns == ["BscStartDate", "Asset", "OriginalShorttext", "PMType", "Cost"]
    assert df.height + r.rejects.height == 5485
    # The known malformed row (file line 3454) has 5 fields like the header: it is not ragged,
    # its columns are shifted, and the reader keeps it as delivered for validation to catch.
    bad = df.filter(pl.col("_row") == 3453)
    assert bad.row(0) == ("2003-12-31", "B", "won", "t swing", "PM01", 3453)


def test_read_table_refuses_document_formats(tmp_path):
    p = _write(tmp_path, "sop.md", "# Pump SOP\n")
    with pytest.raises(ReaderError, match="not a table format"):
        read_table(p, "markdown", ReadOptions())


def test_package_api_and_lazy_imports():
    """The readers package keeps its public names, and importing it loads no optional library."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import corpusmill.readers as r\n"
        "assert all(hasattr(r, n) for n in r.__all__), r.__all__\n"
        "print(sorted(r.__all__))\n"
        "heavy = {'openpyxl', 'pypdf', 'PIL', 'pyarrow', 'charset_normalizer', 'fsspec', 'dagster'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [
        "['Document', 'REJECT_SCHEMA', 'ReadResult', 'ReaderError', 'detect_encoding', "
        "'read_document', 'read_table', 'sha256_file']",
        "[]",
    ]


@pytest.mark.parametrize("block", [1, 2, 3, 5, 8 << 20])
def test_the_quote_scan_finds_a_quote_wherever_the_blocks_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    from corpusmill.readers import delimited

    monkeypatch.setattr(delimited, "_SCAN_BLOCK", block)
    p = tmp_path / "a.csv"
    for data, needle, found in [
        (b"", '"', False), (b"a,b\n1,2\n", '"', False), (b'a,b\n1,"2"\n', '"', True),
        ("a,b\n1,中\n".encode(), "中", True), ("a,b\n1,\xe4\xb8".encode("latin-1"), "中", False),
        ("中".encode(), "中", True),
    ]:  # fmt: skip
        p.write_bytes(data)
        assert delimited._holds(p, needle) is found, (data, needle)
    # and the reader takes the quote-aware path for a quoted field spanning lines past a block
    p.write_bytes(b'a,b\n' + b"1,2\n" * 5 + b'3,"x\ny"\n')
    with read_table(str(p), "csv", ReadOptions(encoding="utf-8", delimiter=",")) as rr:
        assert rr.collect()["b"].to_list() == ["2"] * 5 + ["x\ny"]
