"""Suites, overrides, bad-suite errors, exact counts and quarantine rows on tiny frames."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import polars as pl
import pytest

from corpusmill.canonical import QUARANTINE, conform
from corpusmill.config import ExpectationOverride, SourcesConfig
from quality.engine import run_suite, validate_table
from quality.spec import SuiteError
from quality.suites import SUITES, suite_for

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def sensor_frame() -> pl.DataFrame:
    rows = [
        # ts_utc, batch_id, equipment_id, signal, value, unit, quality, _source, _row
        (T0, None, "s/a/l/cnc-01", "temp", 300.0, "K", "Good", "plant_a", 1),
        (T0, None, "s/a/l/cnc-01", "temp", 2000.0, "K", "Good", "plant_a", 2),  # too hot
        (T0, None, "s/a/l/cnc-01", "press", -5.0, "Pa", "good", "plant_a", 3),  # negative, bad flag
        (None, "b1", "s/a/l/cnc-01", "temp", 400.0, "K", None, "plant_b", 1),  # batch clock: ok
        (None, None, None, "temp", None, "K", "Good", "plant_b", 2),  # 3 failures
        (T0, None, "s/a/l/cnc-02", "press", 1e5, "Pa", "Uncertain", "plant_b", 3),
    ]
    cols = ["ts_utc", "batch_id", "equipment_id", "signal", "value", "unit", "quality",
            "_source", "_row"]  # fmt: skip
    df = pl.DataFrame(rows, schema=cols, orient="row")
    df = df.with_columns(_file=pl.lit("f.csv"), _file_sha256=pl.lit("ab" * 32), _run_id=pl.lit("r0"))
    return conform(df, "sensor_readings")


def test_every_suite_builds_with_unique_names_and_gx_types() -> None:
    for table in SUITES:
        suite = suite_for(table)
        assert suite.name == f"{table}_suite"
        assert len(set(suite.names())) == len(suite.names())
        for e in suite.expectations:
            assert e.type.startswith("Expect") and e.severity in ("error", "warn")


def test_import_is_cheap_and_lazy() -> None:
    code = ("import sys, quality, quality.suites, quality.engine, quality.reports, quality.fast; "
            "assert 'great_expectations' not in sys.modules; assert 'dagster' not in sys.modules")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)


def strict() -> SourcesConfig:
    """Every row-level sensor expectation fails on one bad row (``min_count: 1``): the tests below
    judge failures on a six-row frame, under the default minimum count of three."""
    names = [e.name for e in suite_for("sensor_readings").expectations if e.row_level]
    return _cfg(**{"global": {"sensor_readings": {n: {"min_count": 1} for n in names}}})


def test_sensor_counts_are_exact() -> None:
    res = run_suite(sensor_frame(), suite_for("sensor_readings"))
    by = {r.name: r for r in res.results}
    assert (by["value_not_null"].element_count, by["value_not_null"].unexpected_count) == (6, 1)
    t = by["temperature_range"]
    assert (t.element_count, t.missing_count, t.unexpected_count) == (4, 1, 1)
    assert t.unexpected_percent == pytest.approx(100 / 3)  # over non-missing values
    assert t.partial_unexpected_list == [2000.0]
    assert by["pressure_range"].unexpected_count == 1
    assert by["ts_utc_not_null"].element_count == 5  # the batch-clock row is not judged
    assert by["ts_utc_not_null"].unexpected_count == 1
    q = by["quality_in_set"]
    # One bad row in a six-row frame is under the default minimum count (3): tolerated, not failed.
    assert (q.success, q.tolerated, q.severity, q.unexpected_count, q.missing_count) == (
        True, True, "warn", 1, 1)  # fmt: skip
    assert res.success and not [r.name for r in res.results if not r.success]
    strict = {"sensor_readings": {n: ExpectationOverride(min_count=1) for n in
                                  ("quality_in_set", "temperature_range")}}  # fmt: skip
    res = run_suite(sensor_frame(), suite_for("sensor_readings", strict))
    by = {r.name: r for r in res.results}
    assert (by["quality_in_set"].success, by["quality_in_set"].tolerated) == (False, False)
    assert not by["temperature_range"].success and not res.success


def test_quarantine_one_row_per_rejected_row_with_reasons() -> None:
    df = sensor_frame()
    v = validate_table(df, "sensor_readings", strict(), run_id="run-1")
    assert (v.rows_in, v.rows_kept, v.rows_quarantined) == (6, 3, 3)
    assert v.conserved and v.good.schema == df.schema
    assert v.quarantine.schema == pl.Schema(QUARANTINE)
    q = {(r["_source"], r["_row"]): r for r in v.quarantine.to_dicts()}
    assert set(q) == {("plant_a", 2), ("plant_a", 3), ("plant_b", 2)}
    hot = q[("plant_a", 2)]
    assert hot["check"] == "expect_column_values_to_be_between"
    assert (hot["column"], hot["raw_value"], hot["stage"]) == ("value", "2000.0", "validate")
    assert hot["_run_id"] == "run-1" and hot["table"] == "sensor_readings"
    assert hot["_file"] == "f.csv" and hot["_file_sha256"] == "ab" * 32
    assert "temperature_range" in hot["reason"] and "value=2000.0" in hot["reason"]
    press = q[("plant_a", 3)]
    assert "pressure_range" in press["reason"] and "quality_in_set [warning]" in press["reason"]
    worst = q[("plant_b", 2)]
    assert worst["check"] == "expect_column_values_to_not_be_null"
    assert worst["raw_value"] is None
    for name in ("value_not_null", "equipment_id_not_null", "ts_utc_not_null"):
        assert name in worst["reason"]
    assert worst["reason"].startswith("failed 3 check(s)")
    assert len(v.results) == 2 and [r.source for r in v.results] == ["plant_a", "plant_b"]
    s = {r["name"]: r for r in v.summary.to_dicts()}
    assert s["value_not_null"]["unexpected_count"] == 1
    assert s["temperature_range"]["sources_failed"] == ["plant_a"]


def _cfg(**quality) -> SourcesConfig:  # noqa: ANN003
    return SourcesConfig.model_validate(
        {
            "sites": {"north": {"quality": quality.get("site", {})}},
            "quality": quality.get("global", {}),
            "sources": [
                {"name": "plant_a", "site": "north", "kind": "sensor", "path": "a.csv",
                 "format": "csv", "quality": quality.get("source", {})},
                {"name": "plant_b", "site": "north", "kind": "sensor", "path": "b.csv",
                 "format": "csv"},
            ],
        }
    )  # fmt: skip


def test_overrides_merge_global_site_source() -> None:
    cfg = _cfg(
        **{
            "global": {"sensor_readings": {"temperature_range": {"max_value": 1500.0}}},
            "site": {"sensor_readings": {"temperature_range": {"max_value": 2500.0, "mostly": 0.5},
                                         "quality_in_set": {"value_set": ["Good", "good"]}}},
            "source": {"sensor_readings": {"temperature_range": {"severity": "warn"}}},
        }
    )  # fmt: skip
    a = suite_for("sensor_readings", cfg.quality_overrides(cfg.source("plant_a")))
    t = a.get("temperature_range")
    assert (t.kwargs["max_value"], t.kwargs["mostly"], t.severity) == (2500.0, 0.5, "warn")
    assert a.get("quality_in_set").kwargs["value_set"] == ["Good", "good"]
    b = suite_for("sensor_readings", cfg.quality_overrides(cfg.source("plant_b")))
    assert b.get("temperature_range").severity == "error"
    # In validate_table each source gets its own: plant_a's 2000 K row now passes.
    v = validate_table(sensor_frame(), "sensor_readings", cfg, run_id="r")
    assert ("plant_a", 2) not in {(r["_source"], r["_row"]) for r in v.quarantine.to_dicts()}


def test_disabled_expectation_is_not_run() -> None:
    ov = {"sensor_readings": {"pressure_range": ExpectationOverride(enabled=False)}}
    res = run_suite(sensor_frame(), suite_for("sensor_readings", ov))
    assert "pressure_range" not in {r.name for r in res.results}


@pytest.mark.parametrize(
    ("overrides", "schema", "match"),
    [
        ({"sensor_readings": {"nope": ExpectationOverride(mostly=0.5)}}, None, "unknown expectation"),
        ({"sensor_readings": {"temperature_range": ExpectationOverride(min_value="cold")}}, None,
         "use a number"),
        ({"sensor_readings": {"temperature_range": ExpectationOverride(regex="x")}}, None,
         "'regex' does not apply"),
        ({"sensor_readings": {"quality_in_set": ExpectationOverride(value_set=[1, 2])}}, None,
         "does not fit the column type"),
        ({"sensor_readings": {"temperature_range": ExpectationOverride(min_value=2.0, max_value=1.0)}},
         None, "greater than max_value"),
        ({"equipment": {}}, None, "has no suite"),
        (None, pl.Schema({"value": pl.Float64()}), "unknown column 'unit'"),
    ],
)  # fmt: skip
def test_bad_suites_fail_before_reading(overrides, schema, match) -> None:  # noqa: ANN001
    with pytest.raises(SuiteError, match=match):
        suite_for("sensor_readings", overrides, schema=schema)


def test_bad_override_in_validate_table_raises_before_running() -> None:
    cfg = _cfg(source={"sensor_readings": {"temperature_rnage": {"max_value": 1.0}}})
    with pytest.raises(SuiteError, match="temperature_rnage"):
        validate_table(sensor_frame(), "sensor_readings", cfg, run_id="r")


def test_datetime_bounds_parse_and_must_be_aware() -> None:
    from quality.spec import ExpectationSpec, Suite, validate_suite

    schema = pl.Schema({"ts": pl.Datetime("us", "UTC")})
    ok = validate_suite(Suite("s", "t", (ExpectationSpec("r", "ExpectColumnValuesToBeBetween",
                        {"column": "ts", "min_value": "2024-01-01T00:00:00+08:00"}),)), schema)  # fmt: skip
    assert ok.expectations[0].kwargs["min_value"].utcoffset() == dt.timedelta(hours=8)
    with pytest.raises(SuiteError, match="naive"):
        validate_suite(Suite("s", "t", (ExpectationSpec("r", "ExpectColumnValuesToBeBetween",
                       {"column": "ts", "min_value": "2024-01-01T00:00:00"}),)), schema)  # fmt: skip


def test_other_tables_quarantine_their_defects() -> None:
    imgs = conform(
        pl.DataFrame(
            {"image_id": ["i1", "i2", "i3"], "sha256": ["a" * 64, "A" * 64, "b" * 64],
             "size_bytes": [10, 5, 0], "width": [1, 1, 1], "height": [1, 1, 1],
             "_source": "cam", "_row": [1, 2, 3]}
        ),
        "inspection_images",
    )  # fmt: skip
    v = validate_table(imgs, "inspection_images", None, run_id="r")
    assert v.quarantine.select("_row", "check").rows() == [
        (2, "expect_column_values_to_match_regex"),
        (3, "expect_column_values_to_be_between"),
    ]
    qi = conform(
        pl.DataFrame({"inspection_id": ["q1", "q2", "q3"], "characteristic": ["d"] * 3,
                      "value": [1.0] * 3, "lsl": [0.0, 2.0, None], "usl": [1.0, 1.0, 5.0],
                      "result": ["pass", "fail", "PASS"], "_row": [1, 2, 3]}),
        "quality_inspections",
    )  # fmt: skip
    v = validate_table(qi, "quality_inspections", None, run_id="r")
    assert v.quarantine.select("_row", "column").rows() == [(2, "usl"), (3, "result")]


def test_empty_frame_validates() -> None:
    v = validate_table(sensor_frame().head(0), "sensor_readings", None, run_id="r")
    assert (v.rows_in, v.rows_kept, v.rows_quarantined) == (0, 0, 0)
    assert v.success and len(v.results) == 1


def test_one_quarantined_row_in_a_tiny_table_does_not_block() -> None:
    """Four inspections, one a variable inspection without its value: 25% of the table, but one row
    is under the declared minimum count (3), so the row is quarantined and the suite passes."""
    qi = conform(
        pl.DataFrame({"inspection_id": ["q1", "q2", "q3", "q4"], "characteristic": ["d"] * 4,
                      "value": [1.0, None, 1.0, None], "lsl": [0.0, 0.0, 0.0, None],
                      "usl": [2.0, 2.0, 2.0, None], "result": ["pass"] * 4,
                      "_source": "lab", "_row": [1, 2, 3, 4]}),
        "quality_inspections",
    )  # fmt: skip
    v = validate_table(qi, "quality_inspections", None, run_id="r")
    # q4 is an attribute inspection (no spec limits): its missing value is allowed.
    assert v.quarantine.select("_row", "check").rows() == [(2, "expect_column_values_to_not_be_null")]
    s = {r["name"]: r for r in v.summary.to_dicts()}
    assert (s["value_not_null"]["unexpected_count"], s["value_not_null"]["success"]) == (1, True)
    assert v.success and v.summary.get_column("success").all()
    strict = _cfg(**{"global": {"quality_inspections": {"value_not_null": {"min_count": 1}}}})
    v = validate_table(qi, "quality_inspections", strict, run_id="r")
    assert not v.success and v.rows_quarantined == 1
