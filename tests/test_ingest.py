"""Ingest on tiny inline files: bad input goes to quarantine with its reason, reruns change nothing,
and a new or changed file costs only its own rows."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from corpusmill import config, lake, readers
from corpusmill.ingest import IngestError, conservation, ingest_source, pending_files
from corpusmill.layout import Lake

REAL = Path(__file__).parent.parent / "examples" / "real-datasets" / "sources.yaml"

REGISTRY = """\
sites:
  plant: {timezone: Asia/Shanghai}
equipment:
  - {id: plant/machining/line1/cnc-01, name: CNC 1, aliases: ['1号机床', CNC-01, cnc_1, CNC01]}
  - {id: plant/machining/line1/cnc-02, name: CNC 2, aliases: [CNC-02, CNC02]}
"""

LONG = """\
  - name: {name}
    site: plant
    kind: sensor
    path: {path}
    format: csv
    fields: {{ts_utc: time, equipment_id: machine, signal: tag, value: value}}
"""

HEADER = "time,machine,tag,value\n"


def _project(tmp_path: Path, sources: str, files: dict[str, bytes | str], head: str = REGISTRY):
    """Write data files under data/, a sources.yaml beside it; return (cfg, lake root)."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for name, content in files.items():
        p = data / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    yml = tmp_path / "sources.yaml"
    yml.write_text(f"version: 1\ndata_roots: [data]\n{head}sources:\n{sources}", encoding="utf-8")
    return config.load(yml), tmp_path / "lake"


def _long(name: str = "line", path: str = "data/*.csv", extra: str = "") -> str:
    return LONG.format(name=name, path=path) + extra


def _run(cfg, lake_root: Path, name: str = "line", run_id: str = "r1", **kw):
    return ingest_source(cfg, cfg.source(name), lake_root, run_id=run_id, **kw)


def _staged(lake_root: Path, name: str = "line") -> pl.DataFrame:
    return pl.read_delta(str(Lake(lake_root).staged(name))).sort("_file", "_row")


def _quarantine(lake_root: Path, name: str = "line") -> pl.DataFrame:
    path = Lake(lake_root).quarantine("ingest", name)
    return pl.read_delta(str(path)).sort("_file", "_row", "column", nulls_last=True)


def _ledger(lake_root: Path, name: str = "line") -> pl.DataFrame:
    return pl.read_delta(str(Lake(lake_root).ledger(name))).sort("_file")


def _conserved(lake_root: Path, name: str = "line") -> dict[str, int]:
    c = conservation(lake_root, name)
    assert c["units_in"] == c["rows_kept"] + c["rows_quarantined"], c
    return c


def _versions(root: Path, name: str = "line") -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        lake.open_table(p).version()
        for p in (Lake(root).staged(name), Lake(root).quarantine("ingest", name),
                  Lake(root).ledger(name))
    )  # fmt: skip


def _status(result) -> dict[str, str]:
    return {Path(f.file).name: f.status for f in result.files}


def _rows(n: int, machine: str = "CNC-01", tag: str = "temp", start: int = 0) -> str:
    return "".join(
        f"2024-01-01 00:{start + i:02d}:00,{machine},{tag},{start + i}.5\n" for i in range(n)
    )


# -- bad input --------------------------------------------------------------------------------


def test_wrong_declared_encoding_fails_the_file_only(tmp_path):
    gb = (HEADER + "2024-01-01 00:00:00,1号机床,温度,1.5\n").encode("gb18030")
    cfg, root = _project(
        tmp_path,
        _long(extra="    read: {encoding: utf-8}\n"),
        {"a_good.csv": HEADER + _rows(3), "b_gb.csv": gb},
    )
    res = _run(cfg, root)
    by = {Path(f.file).name: f for f in res.files}
    assert by["b_gb.csv"].status == "failed" and by["a_good.csv"].status == "ingested"
    assert by["b_gb.csv"].by_check == {"unreadable_file": 1}
    q = _quarantine(root)
    assert q.height == 1
    row = q.row(0, named=True)
    assert row["check"] == "unreadable_file" and row["_row"] is None
    assert row["_file"].endswith("b_gb.csv")
    assert "b_gb.csv" in row["reason"] and "cannot decode as utf-8" in row["reason"]
    assert "line 2" in row["reason"]
    assert _staged(root)["value"].to_list() == [0.5, 1.5, 2.5]
    assert _conserved(root) == {"units_in": 4, "rows_kept": 3, "rows_quarantined": 1}


def test_wrong_declared_encoding_in_the_header(tmp_path):
    gb = "时间,设备,位号,数值\n2024-01-01 00:00:00,1号机床,温度,1.5\n".encode("gb18030")
    cfg, root = _project(
        tmp_path, _long(extra="    read: {encoding: utf-8}\n"), {"gb.csv": gb}
    )
    res = _run(cfg, root)
    assert _status(res) == {"gb.csv": "failed"}
    (reason,) = _quarantine(root)["reason"].to_list()
    assert "gb.csv" in reason and "utf-8" in reason
    _conserved(root)


def test_declared_encoding_right_reads_chinese(tmp_path):
    gb = "时间,设备,位号,数值\n2024-01-01 08:00:00,1号机床,温度,1.5\n".encode("gb18030")
    src = """\
  - name: line
    site: plant
    kind: sensor
    path: data/gb.csv
    format: csv
    read: {encoding: gb18030}
    fields: {ts_utc: 时间, equipment_id: 设备, signal: 位号, value: 数值}
"""
    cfg, root = _project(tmp_path, src, {"gb.csv": gb})
    res = _run(cfg, root)
    assert res.files[0].encoding == "gb18030"
    df = _staged(root)
    assert df.select("equipment_id", "signal", "value").rows() == [
        ("plant/machining/line1/cnc-01", "温度", 1.5)
    ]


def test_ragged_rows_quarantined_with_row_numbers(tmp_path):
    text = (
        HEADER
        + "2024-01-01 00:00:00,CNC-01,temp,1.0\n"
        + "2024-01-01 00:01:00,CNC-01,temp,2.0,extra\n"
        + "2024-01-01 00:02:00,CNC-01,temp\n"
        + "2024-01-01 00:03:00,CNC-01,temp,4.0\n"
        + "2024-01-01 00:04:00,CNC-01,te"  # truncated last line, no newline
    )
    cfg, root = _project(tmp_path, _long(), {"r.csv": text})
    res = _run(cfg, root)
    assert res.files[0].by_check == {"ragged_row": 3}
    q = _quarantine(root)
    assert q.select("_row", "check", "raw_value", "reason").rows() == [
        (2, "ragged_row", "2024-01-01 00:01:00,CNC-01,temp,2.0,extra",
         "row has 5 fields, header has 4"),
        (3, "ragged_row", "2024-01-01 00:02:00,CNC-01,temp", "row has 3 fields, header has 4"),
        (5, "ragged_row", "2024-01-01 00:04:00,CNC-01,te", "row has 3 fields, header has 4"),
    ]  # fmt: skip
    df = _staged(root)
    assert df.select("_row", "value").rows() == [(1, 1.0), (4, 4.0)]
    assert _conserved(root) == {"units_in": 5, "rows_kept": 2, "rows_quarantined": 3}


def test_empty_and_header_only_files(tmp_path):
    cfg, root = _project(
        tmp_path, _long(), {"empty.csv": b"", "head.csv": HEADER, "ok.csv": HEADER + _rows(2)}
    )
    res = _run(cfg, root)
    assert _status(res) == {"empty.csv": "ingested", "head.csv": "ingested", "ok.csv": "ingested"}
    by = {Path(f.file).name: f for f in res.files}
    assert by["empty.csv"].units_in == 0 and by["head.csv"].units_in == 0
    assert by["empty.csv"].message == "empty file: no header and no rows"
    assert by["head.csv"].message is None
    led = _ledger(root)
    assert [Path(f).name for f in led["_file"]] == ["empty.csv", "head.csv", "ok.csv"]
    assert led["units_in"].to_list() == [0, 0, 2] and set(led["status"]) == {"ingested"}
    assert _staged(root).height == 2
    assert _conserved(root) == {"units_in": 2, "rows_kept": 2, "rows_quarantined": 0}


def test_only_empty_files(tmp_path):
    cfg, root = _project(tmp_path, _long(), {"empty.csv": b"", "head.csv": HEADER})
    res = _run(cfg, root)
    assert {f.status for f in res.files} == {"ingested"}
    assert _staged(root).height == 0 and _quarantine(root).height == 0
    assert _conserved(root) == {"units_in": 0, "rows_kept": 0, "rows_quarantined": 0}


def test_failed_file_stays_failed_on_rerun(tmp_path):
    gb = (HEADER + "2024-01-01 00:00:00,1号机床,温度,1.5\n").encode("gb18030")
    files = {"a.csv": HEADER + _rows(2), "b.csv": gb}
    cfg, root = _project(tmp_path, _long(extra="    read: {encoding: utf-8}\n"), files)
    _run(cfg, root)
    versions = _versions(root)
    res = _run(cfg, root, run_id="r2")
    assert _status(res) == {"a.csv": "unchanged", "b.csv": "unchanged"}
    assert _versions(root) == versions
    assert _ledger(root)["status"].to_list() == ["ingested", "failed"]
    assert _conserved(root) == {"units_in": 3, "rows_kept": 2, "rows_quarantined": 1}
    # fixed by a new delivery of the same name: its quarantine row goes, its rows arrive
    (tmp_path / "data" / "b.csv").write_text(HEADER + _rows(1, start=30))
    os.utime(tmp_path / "data" / "b.csv", ns=(10**18, 10**18))
    res = _run(cfg, root, run_id="r3")
    assert _status(res) == {"a.csv": "unchanged", "b.csv": "ingested"}
    assert _quarantine(root).height == 0
    assert _conserved(root) == {"units_in": 3, "rows_kept": 3, "rows_quarantined": 0}


def test_binary_garbage_named_csv(tmp_path):
    garbage = bytes(range(256)) * 8
    cfg, root = _project(tmp_path, _long(), {"garbage.csv": garbage, "ok.csv": HEADER + _rows(1)})
    res = _run(cfg, root)
    assert _status(res) == {"garbage.csv": "failed", "ok.csv": "ingested"}
    q = _quarantine(root)
    assert q["check"].to_list() == ["unreadable_file"]
    reason = q["reason"][0]
    assert str(tmp_path / "data" / "garbage.csv") in reason and "not text" in reason
    assert q["_file"][0] == "data/garbage.csv"  # relative to the sources file
    assert _conserved(root) == {"units_in": 2, "rows_kept": 1, "rows_quarantined": 1}


def test_missing_mapped_column_quarantines_every_row(tmp_path):
    text = "time,machine,tag,val\n" + _rows(3)
    cfg, root = _project(tmp_path, _long(), {"m.csv": text})
    res = _run(cfg, root)
    fr = res.files[0]
    assert fr.status == "ingested" and fr.by_check == {"missing_column": 3}
    assert "value" in fr.message and "time" in fr.message
    q = _quarantine(root)
    assert q["_row"].to_list() == [1, 2, 3]
    assert set(q["check"]) == {"missing_column"} and set(q["column"]) == {"value"}
    reason = q["reason"][0]
    assert "'value'" in reason and "fields.value" in reason
    assert "its columns are: time, machine, tag, val" in reason
    assert not lake.exists(Lake(root).staged("line")) or _staged(root).height == 0
    assert _conserved(root) == {"units_in": 3, "rows_kept": 0, "rows_quarantined": 3}


def test_schema_drift_between_two_files(tmp_path):
    first = "time,machine,tag,value,operator\n" + "".join(
        f"2024-01-01 00:0{i}:00,CNC-01,temp,{i}.5,wang\n" for i in range(2)
    )
    second = "time,machine,tag,reading\n" + _rows(3)
    cfg, root = _project(tmp_path, _long(), {"day1.csv": first, "day2.csv": second})
    res = _run(cfg, root)
    by = {Path(f.file).name: f for f in res.files}
    assert by["day1.csv"].rows_kept == 2 and by["day1.csv"].by_check == {}
    assert by["day2.csv"].by_check == {"missing_column": 3}
    df = _staged(root)
    assert df["value"].to_list() == [0.5, 1.5]
    assert "operator" not in df.columns  # extra columns are ignored
    q = _quarantine(root)
    assert {Path(f).name for f in q["_file"]} == {"day2.csv"} and q.height == 3
    assert "its columns are: time, machine, tag, reading" in q["reason"][0]
    assert _conserved(root) == {"units_in": 5, "rows_kept": 2, "rows_quarantined": 3}


def test_same_file_delivered_twice(tmp_path):
    body = HEADER + _rows(3)
    cfg, root = _project(tmp_path, _long(), {"a.csv": body, "copy_of_a.csv": body})
    res = _run(cfg, root)
    by = {Path(f.file).name: f for f in res.files}
    assert by["a.csv"].status == "ingested"
    dup = by["copy_of_a.csv"]
    assert dup.status == "duplicate" and dup.duplicate_of == str(tmp_path / "data" / "a.csv")
    assert dup.units_in == 0 and "not ingested twice" in dup.message
    df = _staged(root)
    assert df.height == 3 and {Path(f).name for f in df["_file"]} == {"a.csv"}
    led = _ledger(root)
    assert led.filter(pl.col("status") == "duplicate")["duplicate_of"].to_list() == [
        str(tmp_path / "data" / "a.csv")
    ]
    assert _conserved(root) == {"units_in": 3, "rows_kept": 3, "rows_quarantined": 0}
    # a rerun keeps it a duplicate in the ledger and writes nothing new
    versions = _versions(root)
    res2 = _run(cfg, root, run_id="r2")
    assert _status(res2) == {"a.csv": "unchanged", "copy_of_a.csv": "unchanged"}
    assert _versions(root) == versions
    assert _ledger(root)["status"].to_list() == ["ingested", "duplicate"]
    assert _conserved(root) == {"units_in": 3, "rows_kept": 3, "rows_quarantined": 0}
    # the original goes away: the copy's content is ingested from the copy, not lost
    (tmp_path / "data" / "a.csv").unlink()
    res3 = _run(cfg, root, run_id="r3")
    assert _status(res3) == {"copy_of_a.csv": "ingested"}
    df = _staged(root)
    assert df.height == 3 and {Path(f).name for f in df["_file"]} == {"copy_of_a.csv"}
    assert _conserved(root) == {"units_in": 3, "rows_kept": 3, "rows_quarantined": 0}


def test_duplicate_in_a_later_delivery(tmp_path):
    body = HEADER + _rows(3)
    cfg, root = _project(tmp_path, _long(), {"a.csv": body})
    _run(cfg, root)
    (tmp_path / "data" / "b.csv").write_text(body)
    res = _run(cfg, root, run_id="r2")
    assert _status(res) == {"a.csv": "unchanged", "b.csv": "duplicate"}
    assert _staged(root).height == 3
    _conserved(root)


def test_path_escaping_the_data_roots_is_refused(tmp_path):
    (tmp_path / "outside.csv").write_text(HEADER + _rows(1))
    plant = tmp_path / "plant"
    (plant / "data").mkdir(parents=True)
    (plant / "data" / "in.csv").write_text(HEADER + _rows(1))
    (plant / "sources.yaml").write_text(
        "version: 1\ndata_roots: [data]\n" + REGISTRY + "sources:\n"
        + _long("escape", "../outside.csv") + _long("dotdot", "data/../../outside.csv")
        + _long("globbed", "data/*.csv"),
        encoding="utf-8",
    )  # fmt: skip
    cfg = config.load(plant / "sources.yaml")
    root = tmp_path / "lake"
    for name in ("escape", "dotdot"):
        with pytest.raises(IngestError, match="outside the declared data roots") as e:
            _run(cfg, root, name)
        assert "outside.csv" in str(e.value) and "refused" in str(e.value)
        with pytest.raises(IngestError, match="outside the declared data roots"):
            pending_files(cfg, cfg.source(name), root)
    # a symlink inside the root that points outside is refused too
    (plant / "data" / "link.csv").symlink_to(tmp_path / "outside.csv")
    with pytest.raises(IngestError, match="outside the declared data roots") as e:
        _run(cfg, root, "globbed")
    assert "link.csv" in str(e.value)
    assert not root.exists() or not any(root.rglob("_delta_log"))  # nothing written


def test_symlinked_folder_pointing_outside(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.csv").write_text(HEADER + _rows(1))
    src = _long("folder", "data") + _long("glob", "data/*/*.csv")
    cfg, root = _project(tmp_path, src, {"ok.csv": HEADER + _rows(1), "sub2/y.csv": HEADER})
    (tmp_path / "data" / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(IngestError, match="outside the declared data roots") as e:
        _run(cfg, root, "glob")
    assert "sub/x.csv" in str(e.value)
    # a folder source does not follow the symlinked folder at all
    res = _run(cfg, root, "folder")
    assert sorted(_status(res)) == ["ok.csv", "y.csv"]


def test_an_absolute_glob_pattern_reads_its_files(tmp_path):
    cfg, root = _project(
        tmp_path,
        _long("abs", f"'{tmp_path}/data/*.csv'") + _long("outside", f"'{tmp_path}/*.txt'"),
        {"a.csv": HEADER + _rows(2), "b.csv": HEADER + _rows(3, start=2), "c.txt": "x"},
    )
    (tmp_path / "stray.txt").write_text("not in a data root")
    res = _run(cfg, root, "abs")
    assert sorted(_status(res)) == ["a.csv", "b.csv"] and _staged(root, "abs").height == 5
    with pytest.raises(IngestError, match="outside the declared data roots"):
        _run(cfg, root, "outside")


def test_equipment_kind_is_refused(tmp_path):
    src = (
        "  - {name: machines, site: plant, kind: equipment, path: data/eq.csv, format: csv,\n"
        "     fields: {equipment_id: id, name: name}}\n"
    )
    cfg, root = _project(tmp_path, src, {"eq.csv": "id,name\ncnc-01,CNC 1\n"})
    with pytest.raises(IngestError, match="kind equipment is read from the registry") as e:
        _run(cfg, root, "machines")
    assert "'machines'" in str(e.value)
    assert not root.exists()  # nothing written, not even a ledger


# -- reruns and increments --------------------------------------------------------------------


def test_ingesting_twice_changes_nothing(tmp_path):
    cfg, root = _project(
        tmp_path, _long(), {"a.csv": HEADER + _rows(3), "b.csv": HEADER + _rows(2, tag="Bad,x")}
    )
    _run(cfg, root)
    before, q_before, versions = _staged(root), _quarantine(root), _versions(root)
    assert q_before.height == 2  # b.csv's rows are ragged
    res = _run(cfg, root, run_id="r2")
    assert _status(res) == {"a.csv": "unchanged", "b.csv": "unchanged"}
    assert _versions(root) == versions
    assert _staged(root).equals(before) and _quarantine(root).equals(q_before)
    assert set(_staged(root)["_run_id"]) == {"r1"}
    assert pending_files(cfg, cfg.source("line"), root) == {}
    # touched but identical bytes: hashed, still unchanged, still no new table version
    os.utime(tmp_path / "data" / "a.csv", ns=(1, 1))
    res = _run(cfg, root, run_id="r3")
    assert _status(res) == {"a.csv": "unchanged", "b.csv": "unchanged"}
    assert _versions(root)[:2] == versions[:2]
    assert _staged(root).equals(before)
    _conserved(root)


def test_incremental_new_changed_and_removed_files(tmp_path, monkeypatch):
    data = tmp_path / "data"
    files = {"a.csv": HEADER + _rows(3), "b.csv": HEADER + _rows(2)}
    cfg, root = _project(tmp_path, _long(), files)
    src = cfg.source("line")
    assert set(pending_files(cfg, src, root)) == {str(data / "a.csv"), str(data / "b.csv")}
    _run(cfg, root, run_id="r1")
    assert pending_files(cfg, src, root) == {}

    read, hashed = [], []
    real_read, real_hash = readers.read_table, readers.sha256_file
    monkeypatch.setattr(
        readers, "read_table", lambda p, *a, **k: read.append(p) or real_read(p, *a, **k)
    )
    monkeypatch.setattr(
        readers, "sha256_file", lambda p, **k: hashed.append(p) or real_hash(p, **k)
    )

    # a new file: only it is hashed and read
    (data / "c.csv").write_text(HEADER + _rows(4, machine="CNC-02"))
    pend = pending_files(cfg, src, root)
    assert pend == {str(data / "c.csv"): real_hash(str(data / "c.csv"))}
    hashed.clear()
    res = _run(cfg, root, run_id="r2")
    assert _status(res) == {"a.csv": "unchanged", "b.csv": "unchanged", "c.csv": "ingested"}
    assert read == [str(data / "c.csv")] and hashed == [str(data / "c.csv")]
    df = _staged(root)
    assert df.group_by("_file", "_run_id").len().sort("_file").rows() == [
        ("data/a.csv", "r1", 3), ("data/b.csv", "r1", 2),
        ("data/c.csv", "r2", 4),
    ]  # fmt: skip
    assert pending_files(cfg, src, root) == {}

    # a changed file: its earlier rows are replaced exactly, the others untouched
    a_before = df.filter(pl.col("_file") == "data/a.csv")
    (data / "b.csv").write_text(HEADER + _rows(5, tag="pressure", start=10))
    os.utime(data / "b.csv", ns=(10**18, 10**18))
    assert list(pending_files(cfg, src, root)) == [str(data / "b.csv")]
    read.clear()
    res = _run(cfg, root, run_id="r3")
    assert _status(res) == {"a.csv": "unchanged", "b.csv": "ingested", "c.csv": "unchanged"}
    assert read == [str(data / "b.csv")]
    df = _staged(root)
    b = df.filter(pl.col("_file") == "data/b.csv")
    assert b.select("_row", "signal", "value", "_run_id").rows() == [
        (i + 1, "pressure", 10 + i + 0.5, "r3") for i in range(5)
    ]
    assert df.filter(pl.col("_file") == "data/a.csv").equals(a_before)
    assert set(df.filter(pl.col("_file") == "data/c.csv")["_run_id"]) == {"r2"}
    assert df.height == 3 + 5 + 4
    _conserved(root)

    # a removed file: its rows disappear
    (data / "a.csv").unlink()
    assert pending_files(cfg, src, root) == {str(data / "a.csv"): "removed"}
    read.clear()
    res = _run(cfg, root, run_id="r4")
    assert res.removed == [str(data / "a.csv")] and read == []
    assert _status(res) == {"b.csv": "unchanged", "c.csv": "unchanged"}
    df = _staged(root)
    assert "data/a.csv" not in set(df["_file"]) and df.height == 9
    assert str(data / "a.csv") not in set(_ledger(root)["_file"])
    assert pending_files(cfg, src, root) == {}
    assert _conserved(root) == {"units_in": 9, "rows_kept": 9, "rows_quarantined": 0}


def test_changed_file_replaces_its_quarantine_rows(tmp_path):
    data = tmp_path / "data"
    cfg, root = _project(tmp_path, _long(), {"a.csv": HEADER + _rows(2) + "x,CNC-01,temp,Bad\n"})
    _run(cfg, root)
    assert _quarantine(root)["check"].to_list() == ["bad_timestamp"]
    (data / "a.csv").write_text(HEADER + _rows(2) + "2024-01-01 00:09:00,CNC-01,temp,Bad\n")
    os.utime(data / "a.csv", ns=(10**18, 10**18))
    _run(cfg, root, run_id="r2")
    q = _quarantine(root)
    assert q.select("_row", "check", "raw_value", "_run_id").rows() == [
        (3, "non_numeric", "Bad", "r2")
    ]
    assert _conserved(root) == {"units_in": 3, "rows_kept": 2, "rows_quarantined": 1}


def test_config_change_reingests_every_file(tmp_path):
    cfg, root = _project(tmp_path, _long(), {"a.csv": HEADER + _rows(2)})
    _run(cfg, root)
    yml = tmp_path / "sources.yaml"
    yml.write_text(
        yml.read_text().replace("value: value}", "value: value}\n    signals: {temp: T}")
    )
    cfg2 = config.load(yml)
    res = _run(cfg2, root, run_id="r2")
    assert _status(res) == {"a.csv": "ingested"}
    df = _staged(root)
    assert df["signal"].to_list() == ["T", "T"] and set(df["_run_id"]) == {"r2"}
    _conserved(root)


# -- values -----------------------------------------------------------------------------------


def test_historian_status_strings_and_bad_dates(tmp_path):
    text = (
        HEADER
        + "2024-01-01 00:00:00,CNC-01,temp,1.5\n"
        + "2024-01-01 00:01:00,CNC-01,temp,Bad\n"
        + "2024-01-01 00:02:00,CNC-01,temp,Scan Timeout\n"
        + "2024-01-01 00:03:00,CNC-01,temp, Inp OutRange \n"
        + "2024-13-45 25:61:00,CNC-01,temp,2.5\n"
        + "2024-01-01 00:05:00,CNC-01,temp,\n"
    )
    cfg, root = _project(tmp_path, _long(), {"h.csv": text})
    res = _run(cfg, root)
    assert res.files[0].by_check == {"non_numeric": 3, "bad_timestamp": 1}
    q = _quarantine(root)
    assert q.select("_row", "check", "column", "raw_value").rows() == [
        (2, "non_numeric", "value", "Bad"),
        (3, "non_numeric", "value", "Scan Timeout"),
        (4, "non_numeric", "value", "Inp OutRange"),
        (5, "bad_timestamp", "time", "2024-13-45 25:61:00"),
    ]
    assert q["reason"][0] == "non-numeric value 'Bad' in numeric column 'value'"
    assert "bad_timestamp '2024-13-45 25:61:00' in column 'time'" in q["reason"][3]
    df = _staged(root)
    assert df.select("_row", "value").rows() == [(1, 1.5), (6, None)]  # empty is null, not bad
    assert _conserved(root) == {"units_in": 6, "rows_kept": 2, "rows_quarantined": 4}


def test_units_and_local_time_to_si_and_utc(tmp_path):
    text = (
        "time,machine,tag,value,unit\n"
        "2024-03-01 08:00:00,CNC-01,temp,212,°F\n"
        "2024-03-01 08:00:00,CNC-01,pressure,14.5037738,psi\n"
        "2024-03-01 08:00:30,CNC-01,temp,32,°F\n"
        "2024-03-01 08:01:00,CNC-01,pressure,1,bar\n"
    )
    chicago = (
        "time,machine,tag,value,unit\n"
        "2024-03-10 01:59:00,CNC-01,temp,0,degC\n"
        "2024-03-10 02:30:00,CNC-01,temp,1,degC\n"
        "2024-03-10 03:00:00,CNC-01,temp,2,degC\n"
    )
    with_unit = ("value: value}", "value: value, unit: unit}")
    src = (
        _long("sh", "data/sh.csv").replace(*with_unit)
        + _long("chi", "data/chi.csv").replace(*with_unit)
        + "    time: {timezone: America/Chicago}\n"
    )
    cfg, root = _project(tmp_path, src, {"sh.csv": text, "chi.csv": chicago})
    _run(cfg, root, "sh")
    df = _staged(root, "sh")
    assert df["unit"].to_list() == ["K", "Pa", "K", "Pa"]
    assert df["value"][0] == pytest.approx(373.15, abs=1e-9)
    assert df["value"][1] == pytest.approx(100000.0, rel=1e-8)
    assert df["value"][2] == pytest.approx(273.15, abs=1e-9)
    assert df["value"][3] == pytest.approx(100000.0, abs=1e-9)
    assert df["ts_utc"].dt.to_string("%Y-%m-%d %H:%M:%S").to_list() == [
        "2024-03-01 00:00:00", "2024-03-01 00:00:00", "2024-03-01 00:00:30", "2024-03-01 00:01:00",
    ]  # fmt: skip
    assert str(df.schema["ts_utc"]) == "Datetime(time_unit='us', time_zone='UTC')"
    _conserved(root, "sh")

    _run(cfg, root, "chi")
    df = _staged(root, "chi")
    assert df["ts_utc"].dt.to_string("%H:%M").to_list() == ["07:59", "08:00"]  # CST, then CDT
    assert df["value"].to_list() == pytest.approx([273.15, 275.15])
    q = _quarantine(root, "chi")
    assert q.select("_row", "check", "column", "raw_value").rows() == [
        (2, "nonexistent_local_time", "time", "2024-03-10 02:30:00")
    ]
    assert "America/Chicago" in q["reason"][0]
    assert _conserved(root, "chi") == {"units_in": 3, "rows_kept": 2, "rows_quarantined": 1}


def test_unknown_unit_is_quarantined(tmp_path):
    text = "time,machine,tag,value,unit\n2024-03-01 08:00:00,CNC-01,temp,1,furlongs/fortnite\n"
    src = _long(path="data/u.csv").replace("value: value}", "value: value, unit: unit}")
    cfg, root = _project(tmp_path, src, {"u.csv": text})
    _run(cfg, root)
    q = _quarantine(root)
    assert q.select("check", "column", "raw_value").rows() == [
        ("unknown_unit", "unit", "furlongs/fortnite")
    ]
    _conserved(root)


def test_equipment_aliases_resolve_to_one_id(tmp_path):
    text = HEADER + "".join(
        f"2024-01-01 00:0{i}:00,{m},temp,{i}\n"
        for i, m in enumerate(["1号机床", "CNC-01", "cnc_1", "ＣＮＣ－０１", " cnc-01 ", "3号机床"])
    )
    src = _long("q") + _long("k", extra="    on_unknown_equipment: keep\n")
    cfg, root = _project(tmp_path, src, {"e.csv": text})
    _run(cfg, root, "q")
    df = _staged(root, "q")
    assert df["equipment_id"].to_list() == ["plant/machining/line1/cnc-01"] * 5
    q = _quarantine(root, "q")
    assert q.select("_row", "check", "column", "raw_value").rows() == [
        (6, "unknown_equipment", "machine", "3号机床")
    ]
    assert "unknown equipment alias '3号机床'" in q["reason"][0]
    assert "did you mean 'plant/machining/line1/cnc-01'?" in q["reason"][0]
    _conserved(root, "q")

    aliases = pl.read_delta(str(Lake(root).aliases("q"))).sort("alias")
    assert dict(zip(aliases["alias"], aliases["equipment_id"]))["ＣＮＣ－０１"] == (
        "plant/machining/line1/cnc-01"
    )
    assert aliases.filter(pl.col("alias") == "3号机床")["suggestion"].to_list() == [
        "plant/machining/line1/cnc-01"
    ]

    _run(cfg, root, "k")
    df = _staged(root, "k")
    kept = df["equipment_id"].to_list()
    assert kept[:5] == ["plant/machining/line1/cnc-01"] * 5
    assert kept[5].startswith("plant/unregistered/-/3-")  # '3' plus a hash of the spelling
    assert _conserved(root, "k") == {"units_in": 6, "rows_kept": 6, "rows_quarantined": 0}


def test_unregistered_equipment_kept_apart(tmp_path):
    text = HEADER + "".join(
        f"2024-01-01 00:0{i}:00,{m},temp,{i}\n"
        for i, m in enumerate(["3号机床", "3号泵", "３号泵", "Press 9", "press-9", "PRESS_9"])
    )
    src = _long(extra="    on_unknown_equipment: keep\n")
    cfg, root = _project(tmp_path, src, {"e.csv": text})
    _run(cfg, root)
    ids = _staged(root)["equipment_id"].to_list()
    # two Chinese names that differ only in characters an id cannot spell stay two machines;
    # spellings that normalise alike (full width, case) stay one
    assert ids[0] != ids[1] and ids[1] == ids[2]
    assert all(i.startswith("plant/unregistered/-/3-") for i in ids[:3])
    assert ids[3:] == ["plant/unregistered/-/press-9", "plant/unregistered/-/press-9",
                       "plant/unregistered/-/press_9"]  # fmt: skip


def test_wide_historian_reshaped_with_per_cell_quarantine(tmp_path):
    text = (
        "Timestamp,CNC01.SpindleTemp,CNC01.Vibration,CNC02.SpindleTemp\n"
        "2024-01-01 08:00:00,20.5,0.1,21.5\n"
        "2024-01-01 08:01:00,20.6,Bad,21.6\n"
    )
    src = """\
  - name: wide
    site: plant
    kind: sensor
    shape: wide
    path: data/w.csv
    format: csv
    wide:
      time_column: Timestamp
      equipment_from_tag: '^(?P<equipment>[^.]+)\\.(?P<signal>.+)$'
      tags:
        CNC01.SpindleTemp: {unit: degC}
        CNC02.SpindleTemp: {unit: degC}
"""
    cfg, root = _project(tmp_path, src, {"w.csv": text})
    res = _run(cfg, root, "wide")
    assert res.files[0].units_in == 6 and res.files[0].rows_kept == 5
    df = _staged(root, "wide")
    assert df.select("_row", "equipment_id", "signal", "value", "unit").rows() == [
        (1, "plant/machining/line1/cnc-01", "SpindleTemp", pytest.approx(293.65), "K"),
        (1, "plant/machining/line1/cnc-01", "Vibration", 0.1, None),
        (1, "plant/machining/line1/cnc-02", "SpindleTemp", pytest.approx(294.65), "K"),
        (2, "plant/machining/line1/cnc-01", "SpindleTemp", pytest.approx(293.75), "K"),
        (2, "plant/machining/line1/cnc-02", "SpindleTemp", pytest.approx(294.75), "K"),
    ]
    assert df["ts_utc"].dt.hour().to_list() == [0] * 5
    q = _quarantine(root, "wide")
    assert q.select("_row", "check", "column", "raw_value").rows() == [
        (2, "non_numeric", "CNC01.Vibration", "Bad")
    ]
    assert _conserved(root, "wide") == {"units_in": 6, "rows_kept": 5, "rows_quarantined": 1}


def test_wide_ragged_row_quarantined_once_per_tag_cell(tmp_path):
    text = "Timestamp,A,B\n2024-01-01 08:00:00,1,2\n2024-01-01 08:01:00,1\n"
    src = """\
  - name: wide
    site: plant
    kind: sensor
    shape: wide
    path: data/w.csv
    format: csv
    equipment: CNC-01
    wide: {time_column: Timestamp}
"""
    cfg, root = _project(tmp_path, src, {"w.csv": text})
    _run(cfg, root, "wide")
    q = _quarantine(root, "wide")
    assert q.select("_row", "check", "column").rows() == [
        (2, "ragged_row", "A"), (2, "ragged_row", "B")
    ]
    assert _conserved(root, "wide") == {"units_in": 4, "rows_kept": 2, "rows_quarantined": 2}


def test_batch_without_offset_keeps_sample_index(tmp_path):
    text = "lot,T1,T2\nA,1,10\nA,2,20\nA,3,30\nB,4,40\nB,5,50\n"
    src = """\
  - name: batches
    site: plant
    kind: sensor
    shape: batch
    path: data/b.csv
    format: csv
    equipment: CNC-02
    batch: {batch_column: lot}
"""
    cfg, root = _project(tmp_path, src, {"b.csv": text})
    _run(cfg, root, "batches")
    df = _staged(root, "batches").sort("_row", "signal")
    assert df.select("batch_id", "sample_index", "signal", "value").rows() == [
        (b, i, s, v)
        for b, i, vals in [("A", 0, (1, 10)), ("A", 1, (2, 20)), ("A", 2, (3, 30)),
                           ("B", 0, (4, 40)), ("B", 1, (5, 50))]
        for s, v in zip(("T1", "T2"), map(float, vals))
    ]  # fmt: skip
    assert df["ts_utc"].null_count() == df.height == 10
    assert df["t_offset_s"].null_count() == 10
    assert set(df["equipment_id"]) == {"plant/machining/line1/cnc-02"}
    assert _conserved(root, "batches") == {"units_in": 10, "rows_kept": 10, "rows_quarantined": 0}


def test_batch_with_offset_in_minutes(tmp_path):
    text = "lot,clock,T1\nA,0,1\nA,1.5,2\n"
    src = """\
  - name: batches
    site: plant
    kind: sensor
    shape: batch
    path: data/b.csv
    format: csv
    equipment: CNC-02
    batch: {batch_column: lot, offset_column: clock, offset_unit: min}
"""
    cfg, root = _project(tmp_path, src, {"b.csv": text})
    _run(cfg, root, "batches")
    df = _staged(root, "batches")
    assert df.select("sample_index", "t_offset_s", "value").rows() == [
        (0, 0.0, 1.0), (1, 90.0, 2.0)
    ]
    _conserved(root, "batches")


# -- the real datasets ------------------------------------------------------------------------


def test_real_datasets(tmp_path):
    cfg = config.load(REAL)
    root = tmp_path / "lake"
    results = {s.name: ingest_source(cfg, s, root, run_id="real") for s in cfg.sources}
    assert {n: r.summary()["files_by_status"] for n, r in results.items()} == {
        "excavator_work_orders": {"ingested": 1},
        "dryer_batches": {"ingested": 1},
        "nylon_batches": {"ingested": 1},
    }
    assert conservation(root, "excavator_work_orders") == {
        "units_in": 5485, "rows_kept": 5484, "rows_quarantined": 1
    }  # fmt: skip
    q = _quarantine(root, "excavator_work_orders")
    assert q.select("_row", "check", "column", "raw_value").rows() == [
        (3453, "non_numeric", "Cost", "PM01")
    ]
    assert conservation(root, "dryer_batches") == {
        "units_in": 92200, "rows_kept": 92200, "rows_quarantined": 0
    }  # fmt: skip
    assert conservation(root, "nylon_batches") == {
        "units_in": 66410, "rows_kept": 66410, "rows_quarantined": 0
    }  # fmt: skip
    for name, rows in (("dryer_batches", 9220), ("nylon_batches", 6641)):
        df = pl.read_delta(str(Lake(root).staged(name)))
        assert df["_row"].n_unique() == rows
        firsts = df.group_by("batch_id").agg(
            pl.col("sample_index").min(), pl.len(), pl.col("sample_index").max().alias("last")
        )
        assert firsts["sample_index"].to_list() == [0] * firsts.height
        # 0..n-1 per batch, 10 tags each
        assert ((firsts["last"] + 1) * 10).to_list() == firsts["len"].to_list()
    dryer = pl.read_delta(str(Lake(root).staged("dryer_batches")))
    assert dryer["ts_utc"].null_count() == dryer.height
    assert set(dryer["unit"].drop_nulls()) == {"K"}
    nylon = pl.read_delta(str(Lake(root).staged("nylon_batches")))
    assert nylon["t_offset_s"].null_count() == nylon.height
    # and a rerun reads nothing
    again = ingest_source(cfg, cfg.source("dryer_batches"), root, run_id="again")
    assert [f.status for f in again.files] == ["unchanged"]
