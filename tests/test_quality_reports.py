"""Dagster asset checks from validations; GX results JSON and Data Docs inside the given folder."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl

from quality.checks import check_results, check_specs
from quality.engine import validate_table
from test_quality_engine import sensor_frame, strict


def test_check_specs() -> None:
    specs = check_specs(dg.AssetKey(["sensor_readings"]), "sensor_readings")
    assert [s.name for s in specs] == ["sensor_readings_suite", "conservation"]
    assert specs[0].blocking and specs[0].asset_key == dg.AssetKey(["sensor_readings"])


def test_error_failure_is_error_severity_with_metadata() -> None:
    v = validate_table(sensor_frame(), "sensor_readings", strict(), run_id="r")
    suite, cons = check_results("sensor_readings", "sensor_readings", v, rows_in=6,
                                docs_url="file:///home/gx/index.html")  # fmt: skip
    assert isinstance(suite, dg.AssetCheckResult)
    assert suite.check_name == "sensor_readings_suite" and not suite.passed
    assert suite.severity == dg.AssetCheckSeverity.ERROR
    md = suite.metadata
    assert md["expectations_evaluated"].value == 8
    assert md["expectations_failed"].value == 6
    assert set(md["failed_error"].value) == {"value_not_null", "temperature_range",
                                             "pressure_range", "equipment_id_not_null",
                                             "ts_utc_not_null"}  # fmt: skip
    assert md["failed_warn"].value == ["quality_in_set"]
    assert md["unexpected_counts"].value["temperature_range"] == 1
    assert md["unexpected_values"].value["temperature_range"] == ["2000.0"]
    assert md["data_docs"].value == "file:///home/gx/index.html"
    assert cons.check_name == "conservation" and cons.passed
    assert cons.metadata["rows_quarantined"].value == 3
    # judged on what the lake holds after writing: a row lost by the write fails the check
    _, lost = check_results("sensor_readings", "sensor_readings", v, rows_in=6, docs_url=None,
                            stored=(v.rows_kept - 1, v.rows_quarantined))  # fmt: skip
    assert not lost.passed and lost.metadata["rows_lost"].value == 1


def test_warn_only_failure_is_warn_and_conservation_can_fail() -> None:
    df = sensor_frame().filter(pl.col("_row") == 3, pl.col("_source") == "plant_b")
    df = df.with_columns(quality=pl.lit("bad-flag"))
    v = validate_table(df, "sensor_readings", strict(), run_id="r")
    suite, cons = check_results(["sensor_readings"], "sensor_readings", v, rows_in=2, docs_url=None)
    assert not suite.passed and suite.severity == dg.AssetCheckSeverity.WARN
    assert "data_docs" not in suite.metadata
    assert not cons.passed and cons.metadata["rows_lost"].value == 1
    ok = validate_table(df.with_columns(quality=pl.lit("Good")), "sensor_readings", strict(), run_id="r")
    assert check_results("x", "sensor_readings", ok, rows_in=1, docs_url=None)[0].passed


def test_results_and_data_docs_stay_in_the_folder(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from quality.reports import build_data_docs, write_results

    home = tmp_path / "home"
    home.mkdir()
    gx_dir = tmp_path / "corpusmill" / "gx"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    v = validate_table(sensor_frame(), "sensor_readings", strict(), run_id="run-7")
    folder = write_results(gx_dir, "sensor_readings", "run-7", v)
    paths = {"folder": str(folder), "index": str(build_data_docs(gx_dir))}
    index = Path(paths["index"])
    assert index.exists() and index.is_relative_to(gx_dir)
    assert "sensor_readings_suite" in index.read_text(encoding="utf-8")
    pages = list((gx_dir / "uncommitted" / "data_docs" / "local_site" / "validations").rglob("*.html"))
    assert len(pages) == 2  # one per source slice
    folder = Path(paths["folder"])
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["sensor_readings_suite__plant_a.json", "sensor_readings_suite__plant_b.json",
                     "summary.json"]  # fmt: skip
    doc = json.loads((folder / "sensor_readings_suite__plant_a.json").read_text())
    assert doc["suite_name"] == "sensor_readings_suite" and doc["success"] is False
    types = {r["expectation_config"]["type"] for r in doc["results"]}
    assert "expect_column_values_to_be_between" in types
    assert all(r["meta"]["engine"] == "fast" for r in doc["results"])
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["rows_in"], summary["rows_kept"], summary["rows_quarantined"]) == (6, 3, 3)
    # Nothing in $HOME (no ~/.great_expectations), nothing beside the gx folder.
    assert list(home.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpusmill", "home"]
    assert sorted(p.name for p in (tmp_path / "corpusmill").iterdir()) == ["gx"]

