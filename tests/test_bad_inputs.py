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
    assert q.select("_file", "_row", "check").rows() == [(fr.file, 1, "malformed_quotes")]
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
