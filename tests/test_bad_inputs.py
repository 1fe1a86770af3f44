"""Bad inputs from real plant exports: each becomes a clear error before running or a quarantined
row with its reason, and no row is lost (rows in = rows ingested + quarantined)."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest

from corpusmill import config, readers
from corpusmill.config import ReadOptions
from tests.test_ingest import _conserved, _long, _project, _quarantine, _run, _staged

HEADER = "time,machine,tag,value\n"
UTC = timezone.utc


def _q(root) -> list[tuple]:
    return _quarantine(root).select("_row", "column", "raw_value", "check").rows()


# -- 1. line endings ---------------------------------------------------------------------------


def test_cr_only_line_endings_read_every_row(tmp_path):
    text = HEADER + "2024-03-05 10:00:00,CNC-01,temp,1\n2024-03-05 10:01:00,CNC-01,temp,2\n"
    cfg, root = _project(tmp_path, _long(), {"a.csv": text.replace("\n", "\r")})
    (fr,) = _run(cfg, root).files
    assert (fr.status, fr.rows_kept, fr.rows_quarantined) == ("ingested", 2, 0)
    assert _staged(root).select("_row", "value").rows() == [(1, 1.0), (2, 2.0)]
    assert _conserved(root)["rows_kept"] == 2


def test_cr_only_whitespace_and_reader_rows(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"a b\r1 2\r3 4\r")
    rr = readers.read_table(str(p), "whitespace", ReadOptions())
    assert rr.frame.collect().rows() == [("1", "2", 1), ("3", "4", 2)]


def test_bare_cr_inside_a_line_with_a_multiline_quoted_field(tmp_path):
    text = (
        HEADER
        + '2024-03-05 10:00:00,CNC-01,"te\nmp",1\n'
        + "2024-03-05 10:01:00,CNC-01,te\rmp,2\n"
        + "2024-03-05 10:02:00,CNC-01,temp,3\n"
    )
    cfg, root = _project(tmp_path, _long(), {"a.csv": text})
    (fr,) = _run(cfg, root).files
    assert (fr.status, fr.rows_kept, fr.rows_quarantined) == ("ingested", 3, 0)
    assert _staged(root).select("_row", "signal", "value").rows() == [
        (1, "te\nmp", 1.0), (2, "te\rmp", 2.0), (3, "temp", 3.0),
    ]  # fmt: skip


# -- 2. two-digit years -------------------------------------------------------------------------

TWO_DIGIT = HEADER + "24-03-05 10:00:00,CNC-01,temp,1\n03/05/24 10:00,CNC-01,temp,2\n"


def test_two_digit_years_without_a_century_rule_are_quarantined(tmp_path):
    cfg, root = _project(tmp_path, _long(), {"a.csv": TWO_DIGIT})
    (fr,) = _run(cfg, root).files
    assert (fr.rows_kept, fr.rows_quarantined) == (0, 2)
    q = _quarantine(root)
    assert q["check"].to_list() == ["two_digit_year", "two_digit_year"]
    assert "two_digit_year: 2000" in q["reason"][0]
    _conserved(root)


def test_two_digit_years_with_a_century_rule(tmp_path):
    extra = "    time: {timezone: UTC, two_digit_year: 2000}\n"
    cfg, root = _project(tmp_path, _long(extra=extra), {"a.csv": TWO_DIGIT})
    _run(cfg, root)
    assert _staged(root)["ts_utc"].to_list() == [
        datetime(2024, 3, 5, 10, tzinfo=UTC), datetime(2024, 3, 5, 10, tzinfo=UTC),
    ]  # fmt: skip


def test_two_digit_year_window_start(tmp_path):
    extra = "    time: {timezone: UTC, two_digit_year: 1950}\n"
    text = HEADER + "49-01-02 00:00:00,CNC-01,temp,1\n50-01-02 00:00:00,CNC-01,temp,2\n"
    cfg, root = _project(tmp_path, _long(extra=extra), {"a.csv": text})
    _run(cfg, root)
    assert [t.year for t in _staged(root)["ts_utc"].to_list()] == [2049, 1950]


def test_declared_percent_y_format_needs_the_century(tmp_path):
    with pytest.raises(config.ConfigError, match="two-digit year.*two_digit_year: 2000"):
        _project(tmp_path, _long(extra="    time: {format: '%y-%m-%d %H:%M:%S'}\n"), {})


# -- 3. non-finite numbers ----------------------------------------------------------------------


def test_non_finite_numbers_are_quarantined(tmp_path):
    values = ["inf", "-inf", "Infinity", "nan", "1e309", "5"]
    rows = "".join(f"2024-03-05 10:0{i}:00,CNC-01,temp,{v}\n" for i, v in enumerate(values))
    cfg, root = _project(tmp_path, _long(), {"a.csv": HEADER + rows})
    (fr,) = _run(cfg, root).files
    assert (fr.rows_kept, fr.rows_quarantined) == (1, 5)
    assert _staged(root)["value"].to_list() == [5.0]
    assert _q(root) == [
        (1, "value", "inf", "non_finite"), (2, "value", "-inf", "non_finite"),
        (3, "value", "Infinity", "non_finite"), (4, "value", "nan", "non_finite"),
        (5, "value", "1e309", "non_finite"),
    ]  # fmt: skip
    _conserved(root)


# -- 4. ambiguous units -------------------------------------------------------------------------


def test_ambiguous_declared_unit_refused_at_load(tmp_path):
    with pytest.raises(config.ConfigError) as e:
        _project(tmp_path, _long(extra="    units: {value: F}\n"), {})
    msg = str(e.value)
    assert "source 'line'" in msg and "value" in msg and "ambiguous unit 'F'" in msg
    assert "unit_aliases: {F: degF}" in msg


def test_unit_alias_declares_what_f_means(tmp_path):
    extra = "    unit_aliases: {F: degF}\n    units: {value: F}\n"
    text = HEADER + "2024-03-05 10:00:00,CNC-01,temp,212\n"
    cfg, root = _project(tmp_path, _long(extra=extra), {"a.csv": text})
    _run(cfg, root)
    assert _staged(root).select("unit", pl.col("value").round(2)).rows() == [("K", 373.15)]


def test_ambiguous_tag_unit_refused_and_aliased(tmp_path):
    src = (
        "  - name: w\n    site: plant\n    kind: sensor\n    path: data/w.csv\n    format: csv\n"
        "    equipment: CNC-01\n    shape: wide\n    wide: {time_column: t, tags: {A: {unit: C}}}\n"
    )
    with pytest.raises(config.ConfigError, match=r"tags.A.unit: ambiguous unit 'C'"):
        _project(tmp_path, src, {})
    aliased = src + "    unit_aliases: {C: degC}\n"
    cfg, root = _project(tmp_path, aliased, {"w.csv": "t,A\n2024-03-05 10:00:00,20\n"})
    _run(cfg, root, "w")
    assert _staged(root, "w").select("unit", pl.col("value").round(2)).rows() == [("K", 293.15)]


def test_unit_column_ambiguous_garbled_and_empty_are_quarantined(tmp_path):
    src = _long().replace("value: value}", "value: value, unit: u}")
    rows = [("F", 1), ("degF?", 2), ("", 3), ("C", 4), ("degC", 5)]
    text = "time,machine,tag,value,u\n" + "".join(
        f"2024-03-05 10:00:00,CNC-01,temp,{v},{u}\n" for u, v in rows
    )
    cfg, root = _project(tmp_path, src, {"a.csv": text})
    (fr,) = _run(cfg, root).files
    assert (fr.rows_kept, fr.rows_quarantined) == (1, 4)
    assert _staged(root).select("_row", "unit").rows() == [(5, "K")]
    q = _quarantine(root)
    assert q.select("_row", "check").rows() == [
        (1, "unknown_unit"), (2, "unknown_unit"), (3, "missing_unit"), (4, "unknown_unit"),
    ]  # fmt: skip
    assert "ambiguous unit 'F'" in q["reason"][0]
    _conserved(root)


# -- 5. malformed quotes ------------------------------------------------------------------------


def test_stray_quote_quarantines_its_row_only(tmp_path):
    text = HEADER + '2024-03-05 10:00:00,CNC-01,te"mp,1\n2024-03-05 10:01:00,CNC-01,temp,2\n'
    cfg, root = _project(tmp_path, _long(), {"a.csv": text})
    (fr,) = _run(cfg, root).files
    assert (fr.status, fr.rows_kept, fr.rows_quarantined) == ("ingested", 1, 1)
    q = _quarantine(root)
    assert q.select("_file", "_row", "check").rows() == [("data/a.csv", 1, "malformed_quotes")]
    assert _staged(root)["_row"].to_list() == [2]
    _conserved(root)


def test_unclosed_quote_is_quarantined_not_a_crash(tmp_path):
    text = HEADER + '2024-03-05 10:00:00,CNC-01,"temp,1\n2024-03-05 10:01:00,CNC-01,temp,2\n'
    cfg, root = _project(tmp_path, _long(), {"a.csv": text})
    (fr,) = _run(cfg, root).files
    assert (fr.status, fr.rows_kept, fr.rows_quarantined) == ("ingested", 0, 1)
    q = _quarantine(root)
    assert q["check"].to_list() == ["malformed_quotes"]
    assert "runs to the end of the file (2 lines)" in q["reason"][0]
    _conserved(root)


def test_a_bad_source_does_not_stop_the_next(tmp_path):
    text = HEADER + '2024-03-05 10:00:00,CNC-01,"temp,1\n'
    good = HEADER + "2024-03-05 10:00:00,CNC-01,temp,1\n"
    srcs = _long("bad", "data/bad.csv") + _long("good", "data/good.csv")
    cfg, root = _project(tmp_path, srcs, {"bad.csv": text, "good.csv": good})
    _run(cfg, root, "bad")
    _run(cfg, root, "good")
    assert _staged(root, "good")["value"].to_list() == [1.0]


# -- 6. clockless files -------------------------------------------------------------------------

CLOCKLESS = """\
  - name: sim
    site: plant
    kind: sensor
    path: data/runs/*.txt
    format: whitespace
    equipment: CNC-01
    read: {{header: false, columns: [p, q]}}
    shape: batch
    batch: {{run_from: file, sample_period: 3min{extra}}}
"""


def _readings(root, name: str) -> list[tuple]:
    return (
        _staged(root, name)
        .sort("batch_id", "sample_index", "signal")
        .select("batch_id", "sample_index", "t_offset_s", "signal", "value")
        .rows()
    )


def test_each_file_one_run_with_a_sampling_period(tmp_path):
    files = {"runs/run_01.txt": "1 10\n2  20\n", "runs/run_02.txt": "\t3 30\n"}
    cfg, root = _project(tmp_path, CLOCKLESS.format(extra=""), files)
    r = _run(cfg, root, "sim")
    assert [(f.rows_kept, f.rows_quarantined) for f in r.files] == [(4, 0), (2, 0)]
    assert _readings(root, "sim") == [
        ("run_01", 0, 0.0, "p", 1.0), ("run_01", 0, 0.0, "q", 10.0),
        ("run_01", 1, 180.0, "p", 2.0), ("run_01", 1, 180.0, "q", 20.0),
        ("run_02", 0, 0.0, "p", 3.0), ("run_02", 0, 0.0, "q", 30.0),
    ]  # fmt: skip
    assert _staged(root, "sim")["ts_utc"].null_count() == 2 * 3  # no time is invented
    _conserved(root, "sim")


def test_file_id_as_relative_path(tmp_path):
    cfg, root = _project(tmp_path, CLOCKLESS.format(extra=", file_id: path"),
                         {"runs/run_01.txt": "1 10\n"})  # fmt: skip
    _run(cfg, root, "sim")
    assert set(_staged(root, "sim")["batch_id"]) == {"data/runs/run_01.txt"}


def test_transposed_file_variables_in_rows(tmp_path):
    src = """\
  - name: rig
    site: plant
    kind: sensor
    path: data/rig/*.csv
    format: csv
    equipment: CNC-01
    read: {header: false, columns: [var, s0, s1, s2]}
    shape: batch
    batch: {run_from: file, orientation: columns, variable_column: var, sample_period: 0.5 s}
"""
    cfg, root = _project(tmp_path, src, {"rig/t7.csv": "temp,1,2,3\npress,4,x,6\n"})
    (fr,) = _run(cfg, root, "rig").files
    assert (fr.units_in, fr.rows_kept, fr.rows_quarantined) == (6, 5, 1)
    assert _readings(root, "rig") == [
        ("t7", 0, 0.0, "press", 4.0), ("t7", 0, 0.0, "temp", 1.0),
        ("t7", 1, 0.5, "temp", 2.0),
        ("t7", 2, 1.0, "press", 6.0), ("t7", 2, 1.0, "temp", 3.0),
    ]  # fmt: skip

    q = _quarantine(root, "rig")
    assert q.select("_row", "column", "raw_value", "check").rows() == [(2, "s1", "x", "non_numeric")]
    _conserved(root, "rig")


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ("{run_from: file, batch_column: b}", "drop batch_column"),
        ("{sample_period: 3min}", "needs batch_column"),
        ("{run_from: file, sample_period: 3 kg}", "not a positive time"),
        ("{run_from: file, sample_period: soon}", "not a duration"),
        ("{run_from: file, orientation: columns}", "needs variable_column"),
    ],
)
def test_clockless_blocks_checked_at_load(tmp_path, batch, message):
    src = CLOCKLESS.format(extra="").replace("{run_from: file, sample_period: 3min}", batch)
    with pytest.raises(config.ConfigError, match=message):
        _project(tmp_path, src, {})
