"""The sample factory: deterministic, a sources file that loads, ground truth true to the files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import yaml

from corpusmill.config import load
from corpusmill.generate import QUALITY_BLANKS, STATUS_STRINGS, UNKNOWN_ALIASES, generate

SOURCES = {
    "modern_historian", "traditional_historian", "wide_historian", "quality_lab",
    "mes_work_orders", "mes_batches", "maintenance_logs", "service_tickets", "manuals", "sops",
    "inspection_images",
}  # fmt: skip


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("factory") / "seed0"
    truth = generate(out, scale=1, seed=0)
    return out, truth


def test_same_seed_same_bytes_other_seed_other_data(factory, tmp_path):
    out, truth = factory
    again = generate(tmp_path / "again", seed=0)
    assert again == truth
    assert _hashes(tmp_path / "again") == _hashes(out)
    other = generate(tmp_path / "other", seed=1)
    assert other != truth
    a, b = _hashes(out), _hashes(tmp_path / "other")
    for rel in truth["sources"]["traditional_historian"]["files"]:
        assert a[rel] != b[rel]


def test_regenerates_in_place_but_refuses_a_foreign_folder(factory, tmp_path):
    out, _ = factory
    before = _hashes(out)
    generate(out, seed=0)
    assert _hashes(out) == before
    (tmp_path / "mine.txt").write_text("not a factory")
    with pytest.raises(FileExistsError, match="no earlier sample factory"):
        generate(tmp_path)


def test_sources_yaml_loads(factory):
    out, truth = factory
    cfg = load(out / "sources.yaml")
    assert {s.name for s in cfg.sources} == SOURCES == set(truth["sources"])
    assert cfg.data_roots == ["."]
    assert cfg.sites["suzhou"].timezone == "Asia/Shanghai"
    assert cfg.sites["shenzhen"].timezone == "UTC"
    assert cfg.source("traditional_historian").read.encoding == "auto"
    aliases = cfg.alias_map()
    cnc1 = "suzhou/machining/line1/cnc-01"
    assert aliases["1号机床"] == aliases["cnc-01"] == aliases["cnc_1"] == aliases["cnc01"] == cnc1
    for eq_id, names in truth["equipment"].items():
        assert all(aliases[n.casefold()] == eq_id for n in names)
    wide = cfg.source("wide_historian").wide
    assert wide is not None
    pattern = re.compile(wide.equipment_from_tag)
    for tag in wide.tags:
        m = pattern.match(tag)
        assert m and m["equipment"].casefold() in aliases and m["signal"]
    for source in cfg.sources:  # every declared path has files behind it
        assert list(out.glob(source.path)), source.name


def test_ground_truth_adds_up(factory):
    out, truth = factory
    assert json.loads((out / "ground_truth.json").read_text("utf-8")) == truth
    assert (truth["seed"], truth["scale"]) == (0, 1)
    sensor_units = 0
    for name, src in truth["sources"].items():
        assert src["units_in"] == src["kept"] + sum(src["quarantined"].values()), name
        assert src["units_in"] == sum(f["units_in"] for f in src["files"].values()), name
        assert all((out / rel).is_file() for rel in src["files"]), name
        if src["kind"] == "sensor":
            sensor_units += src["units_in"]
    assert 20_000 <= sensor_units <= 30_000
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) < 5_000_000
    assert truth["sources"]["modern_historian"]["quarantined"] == {}
    assert truth["sources"]["wide_historian"]["unit"] == "cells"
    assert all(n > 0 for n in truth["pii"].values())
    assert truth["documents"] == {"exact_duplicates": 1, "near_duplicates": 1}


def _decoded_lines(path: Path, encoding: str) -> list[str]:
    return path.read_bytes().decode(encoding).splitlines()


def _rows_in(out: Path, name: str, rel: str) -> int:
    path = out / rel
    if name in ("traditional_historian", "wide_historian"):
        enc = "gb18030" if name == "traditional_historian" else "utf-8-sig"
        return len(_decoded_lines(path, enc)) - 1
    if name == "modern_historian":
        return pl.read_parquet(path).height
    if name == "quality_lab":
        from openpyxl import load_workbook

        return load_workbook(path, read_only=True)["检验记录"].max_row - 2  # title and header
    if name.startswith("mes_"):
        table = "work_orders" if name == "mes_work_orders" else "batches"
        with sqlite3.connect(path) as con:
            return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    if name == "maintenance_logs":
        return len(path.read_text("utf-8").splitlines())
    if name == "service_tickets":
        return len(list(csv.reader(io.StringIO(path.read_text("utf-8"))))) - 1
    return 1  # documents and images: one row per file


def test_file_rows_match_the_files(factory):
    out, truth = factory
    for name, src in truth["sources"].items():
        for rel, f in src["files"].items():
            assert _rows_in(out, name, rel) == f["rows"], (name, rel)


def test_traditional_csv_is_gb18030_and_the_last_file_is_cut(factory):
    out, truth = factory
    files = sorted(truth["sources"]["traditional_historian"]["files"])
    assert len(files) >= 2
    for rel in files:
        raw = (out / rel).read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert raw.decode("gb18030").startswith("时间,设备,位号,数值,单位,状态")
        assert raw.endswith(b"\r\n") == (rel != files[-1])
    last = (out / files[-1]).read_bytes().decode("gb18030").splitlines()[-1]
    assert len(last.split(",")) < 6


def test_wide_csv_has_a_bom(factory):
    out, truth = factory
    for rel in truth["sources"]["wide_historian"]["files"]:
        raw = (out / rel).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbfTimestamp,CNC01.")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _recount_scada(out: Path, files: list[str]) -> Counter[str]:
    """Find the defects in the SCADA CSVs without the generator's help."""
    found: Counter[str] = Counter()
    for rel in files:
        seen: set[str] = set()
        for line in _decoded_lines(out / rel, "gb18030")[1:]:
            row = line.split(",")
            if len(row) != 6:
                found["ragged_row"] += 1
            elif row[3] in STATUS_STRINGS:
                found["non_numeric"] += 1
            elif not _parses(row[0], "%Y/%m/%d %H:%M:%S"):
                found["bad_timestamp"] += 1
            elif row[1] in UNKNOWN_ALIASES:
                found["unknown_equipment"] += 1
            elif line in seen:
                found["duplicate"] += 1
            elif row[3] == "":
                found["expect_column_values_to_not_be_null"] += 1
            elif not (-0.0 <= float(row[3]) < 1832.0):  # °F and psi: in range after SI conversion
                found["expect_column_values_to_be_between"] += 1
            seen.add(line)
    return found


def _parses(text: str, fmt: str) -> bool:
    try:
        datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


def test_traditional_defects_are_where_the_ground_truth_says(factory):
    out, truth = factory
    src = truth["sources"]["traditional_historian"]
    assert _recount_scada(out, sorted(src["files"])) == Counter(src["quarantined"])
    assert src["quarantined"]["ragged_row"] == 3 + 1  # three injected, one truncated tail


def _out_of_range(tag: str, value: float) -> bool:
    """°F above 1273.15 K or psi below 0 Pa; other units have no bounds."""
    return (tag.endswith("_F") and value > 1832) or (tag.endswith("_psi") and value < 0)


def test_wide_defects_are_where_the_ground_truth_says(factory):
    out, truth = factory
    src = truth["sources"]["wide_historian"]
    found: Counter[str] = Counter()
    for rel in src["files"]:
        lines = _decoded_lines(out / rel, "utf-8-sig")
        tags = lines[0].split(",")[1:]
        n_tags = len(tags)
        seen: set[str] = set()
        for line in lines[1:]:
            row = line.split(",")
            if len(row) != n_tags + 1:
                found["ragged_row"] += n_tags
            elif not _parses(row[0], "%m/%d/%Y %I:%M:%S %p"):
                found["bad_timestamp"] += n_tags
            elif line in seen:
                found["duplicate"] += n_tags
            else:
                found["non_numeric"] += sum(c in STATUS_STRINGS for c in row[1:])
                found["expect_column_values_to_be_between"] += sum(
                    _is_number(c) and _out_of_range(tag, float(c))
                    for tag, c in zip(tags, row[1:], strict=True)
                )
            seen.add(line)
    assert found == Counter(src["quarantined"])


def test_quality_lab_blanks_and_decoy_sheet(factory):
    from openpyxl import load_workbook

    out, truth = factory
    src = truth["sources"]["quality_lab"]
    (rel,) = src["files"]
    wb = load_workbook(out / rel, read_only=True)
    assert wb.sheetnames[0] == "说明"
    rows = list(wb["检验记录"].iter_rows(min_row=3, values_only=True))
    # blank values of variable inspections (all rows carry spec limits) are quarantined
    assert src["quarantined"] == {"expect_column_values_to_not_be_null": QUALITY_BLANKS}
    assert sum(r[5] is None for r in rows) == QUALITY_BLANKS
    assert all(r[7] is not None for r in rows if r[5] is None)
    assert {r[9] for r in rows} <= {"pass", "fail"}


def _maintenance_and_ticket_texts(out, truth) -> str:
    """Every maintenance description and action and every ticket body the factory wrote."""
    texts = []
    for rel in truth["sources"]["maintenance_logs"]["files"]:
        for line in (out / rel).read_text("utf-8").splitlines():
            rec = json.loads(line)
            texts += [rec["description"], rec["action"]]
    with open(out / "service/tickets.csv", encoding="utf-8", newline="") as fh:
        texts += [r["body"] for r in csv.DictReader(fh)]
    return "\n".join(texts)


def test_pii_counts_match_the_text(factory):
    out, truth = factory
    blob = _maintenance_and_ticket_texts(out, truth)
    ids = re.findall(r"(?<!\d)\d{17}[\dX](?!\d)", blob)
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    for n in ids:
        assert "10X98765432"[sum(int(d) * w for d, w in zip(n[:17], weights)) % 11] == n[17]
    phones = re.findall(r"(?<![\d+])(?:\+86[- ]?)?1[3-9]\d{9}(?!\d)", blob)
    emails = re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", blob)
    names = re.findall(
        r"(?:报修人：|技术员 |联系人：)[\u4e00-\u9fff]{2}"
        r"|(?:reported by|tech:|[Pp]lease contact) [A-Z][a-z]+ [A-Z][a-z]+",
        blob,
    )
    assert truth["pii"] == {
        "names": len(names), "phones": len(phones), "emails": len(emails), "id_cards": len(ids)
    }  # fmt: skip


def test_documents_and_images_duplicates(factory):
    out, truth = factory
    raw = {p.name: p.read_bytes() for p in (out / "docs").glob("*.md")}
    assert len(set(raw.values())) == len(raw)  # different bytes: ingest keeps every file
    text = {name: b.decode("utf-8-sig").replace("\r\n", "\n") for name, b in raw.items()}
    assert len(text) - len(set(text.values())) == truth["documents"]["exact_duplicates"] == 1
    assert raw["cnc_lathe_manual_final.md"].startswith(b"\xef\xbb\xbf")
    near, base = text["press_manual_rev_b.md"].split(), text["press_manual.md"].split()
    assert near != base and len(near) == len(base)
    assert sum(a != b for a, b in zip(near, base, strict=True)) <= 6
    images = sorted((out / "images").glob("*.png"))
    assert len(images) == truth["images"]["count"]
    digests = Counter(hashlib.sha256(p.read_bytes()).hexdigest() for p in images)
    assert sum(n - 1 for n in digests.values()) == truth["images"]["duplicates"] == 1
    # the byte-identical copy is a re-delivery: not among the source's delivered files
    delivered = truth["sources"]["inspection_images"]["files"]
    assert len(delivered) == len(digests) == len(images) - 1
    assert {hashlib.sha256((out / f).read_bytes()).hexdigest() for f in delivered} == set(digests)
    with open(out / "images/labels.csv", encoding="utf-8", newline="") as fh:
        labels = list(csv.DictReader(fh))
    assert sorted(r["file"] for r in labels) == [p.name for p in images]
    assert {r["label"] for r in labels} <= {"ok", "scratch", "dent"}


def test_corrective_work_falls_inside_the_sensor_range(factory):
    out, truth = factory
    readings = pl.concat(
        [pl.read_parquet(out / rel) for rel in truth["sources"]["modern_historian"]["files"]]
    )
    first, last = readings["ts"].min(), readings["ts"].max()
    reported = []
    for rel in truth["sources"]["maintenance_logs"]["files"]:
        for line in (out / rel).read_text("utf-8").splitlines():
            rec = json.loads(line)
            if rec["type"] == "corrective" and rec["asset"].startswith("shenzhen/"):
                local = datetime.strptime(rec["reported_at"], "%Y-%m-%d %H:%M")
                reported.append(local.replace(tzinfo=ZoneInfo("Asia/Shanghai")))
    assert len(reported) >= 2
    assert all(first <= t <= last for t in reported)


def test_scale_grows_rows_and_defects_linearly(factory, tmp_path):
    _, one = factory
    two = generate(tmp_path / "two", scale=2)
    for name in ("modern_historian", "wide_historian", "traditional_historian"):
        assert two["sources"][name]["units_in"] == 2 * one["sources"][name]["units_in"]
    q1 = one["sources"]["traditional_historian"]["quarantined"]
    q2 = two["sources"]["traditional_historian"]["quarantined"]
    assert q2["non_numeric"] == 2 * q1["non_numeric"]
    assert q2["ragged_row"] == 2 * (q1["ragged_row"] - 1) + 1


def test_confidential_pieces_are_planted_as_counted(factory):
    """Every declared confidential piece the generator planted is in the texts, as often as
    ``ground_truth.json`` says, and ``sources.yaml`` declares the terms."""
    out, truth = factory
    blob = _maintenance_and_ticket_texts(out, truth)
    declared = yaml.safe_load((out / "sources.yaml").read_text("utf-8"))["corpora"]["text_corpus"]
    terms = declared["confidential"]
    sites = terms["sites"]

    def occurrences(words):
        return sum(blob.count(w) for w in words)

    planted = truth["redaction"]["planted"]
    suppliers = [*terms["suppliers"], *sites["suzhou"]["suppliers"]]
    customers = sites["shenzhen"]["customers"]
    assert planted["[SUPPLIER]"] == occurrences(suppliers) > 0
    assert planted["[CUSTOMER]"] == occurrences([*customers, "欧姆龙（中国）有限公司"]) > 0
    assert planted["[NAME]"] == occurrences(terms["names"]) + truth["pii"]["names"]
    assert planted["[SERIAL]"] == len(re.findall(r"SN-\d{4}-\d{5}", blob)) > 0
    assert planted["[RECIPE]"] == len(re.findall(r"配方[A-Z]-\d+|recipe R-\d+", blob)) > 0
    assert planted["[SETPOINT]"] == len(
        re.findall(r"S=\d+rpm|设定 \d+°C|setpoint \d+ degC", blob)
    ) > 0
    assert all(item in blob for item in truth["redaction"]["items"])
