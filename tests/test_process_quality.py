"""``process_quality``: features of each unit's sensor data joined to its planted inspection outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from corpusmill import canonical, lake
from corpusmill.corpora import CORPORA, read_inputs
from corpusmill.corpus import CorpusError
from corpusmill.layout import Lake
from corpusmill.process_quality import ProcessQualityConfig, build_process_quality

SPEC = CORPORA["process_quality"]
T0 = datetime(2024, 3, 5, 8, tzinfo=UTC)


def _readings(rows: list[tuple]) -> pl.DataFrame:
    cols = ("ts_utc", "batch_id", "t_offset_s", "sample_index", "equipment_id", "signal", "value")
    return canonical.conform(pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows],
                                          schema_overrides={"ts_utc": canonical.UTC_TS}),
                             "sensor_readings")  # fmt: skip


def _events(rows: list[tuple]) -> pl.DataFrame:
    cols = ("event_id", "equipment_id", "lot_id", "start_utc", "end_utc")
    return canonical.conform(pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows]),
                             "production_events")  # fmt: skip


def _inspections(rows: list[tuple]) -> pl.DataFrame:
    cols = ("lot_id", "characteristic", "value", "result", "defect_code")
    return canonical.conform(pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows]),
                             "quality_inspections")  # fmt: skip


def _feature(row: dict, signal: str, feature: str) -> float | None:
    return next(f["value"] for f in row["features"] if (f["signal"], f["feature"]) == (signal, feature))


def test_event_window_features_limits_and_aliased_lot_keys() -> None:
    m = "s/a/l/m1"
    at = [T0 + timedelta(minutes=i) for i in range(6)]
    # WO1 runs 08:00-08:03 (4 samples), WO2 08:04-08:05; one reading after WO2 belongs to neither
    readings = _readings([(t, None, None, None, m, "temp", v)
                          for t, v in zip([*at, T0 + timedelta(minutes=9)],
                                          [50.0, 62.0, 64.0, 58.0, 10.0, 20.0, 99.0], strict=True)])
    events = _events([("WO1", m, "lot-a", at[0], at[3]), ("WO2", m, "LOT-B", at[4], at[5]),
                      ("WO3", m, "LOT-C", T0 + timedelta(hours=2), T0 + timedelta(hours=3))])
    inspections = _inspections([(" lot-a ", "od", 1.0, "pass", None),
                                ("LOT-A", "od", 3.0, "fail", "D01"),
                                ("b-alias", "od", 5.0, "pass", None)])
    cfg = SPEC.resolve({"keys": {"lot": {"strip": True, "upper": True,
                                         "aliases": {"b-alias": "lot-b"}}},
                        "limits": {"temp": 60.0}})  # fmt: skip
    result = build_process_quality(readings, events, inspections, config=cfg)
    SPEC.check(result)
    rows = {r["unit_id"]: r for r in result.frame.iter_rows(named=True)}
    assert set(rows) == {"event:WO1", "event:WO2"}
    a = rows["event:WO1"]
    assert (a["lot_key"], a["n_readings"], a["result"], a["defect_codes"], a["n_inspections"]) == (
        "LOT-A", 4, "fail", ["D01"], 2)
    assert a["measurements"] == [{"characteristic": "od", "value": 2.0, "n": 2}]
    assert _feature(a, "temp", "mean") == pytest.approx(58.5)
    assert (_feature(a, "temp", "min"), _feature(a, "temp", "max"), _feature(a, "temp", "last")) == (
        50.0, 64.0, 58.0)
    # 62 and 64 are above 60, each for its 60 s step
    assert _feature(a, "temp", "time_above") == 120.0
    # least squares over t = 0, 60, 120, 180 s
    assert _feature(a, "temp", "slope") == pytest.approx(780 / 18000)
    b = rows["event:WO2"]
    assert (b["lot_key"], b["n_readings"], b["result"], b["measurements"][0]["value"]) == (
        "LOT-B", 2, "pass", 5.0)
    assert result.excluded.select("unit_id", "check").rows() == [("event:WO3", "no_sensor_data")]


def test_batches_on_a_relative_clock_and_a_lot_without_outcome() -> None:
    readings = _readings([(None, "b1", 60.0 * i, i, "p/a/l/dryer", "temp", float(i)) for i in range(5)]
                         + [(None, "b2", None, i, "p/a/l/dryer", "temp", 1.0) for i in range(3)])
    result = build_process_quality(readings, canonical.empty("production_events"),
                                   _inspections([("B1", "moisture", 0.02, "pass", None)]),
                                   config=ProcessQualityConfig())  # fmt: skip
    [row] = result.frame.iter_rows(named=True)
    assert (row["unit_id"], row["kind"], row["duration_s"], row["n_readings"]) == (
        "batch:p/a/l/dryer#B1", "batch", 240.0, 5)
    assert _feature(row, "temp", "slope") == pytest.approx(1 / 60)
    assert _feature(row, "temp", "time_above") is None  # no limit declared
    assert result.excluded.select("unit_id", "check").rows() == [("batch:p/a/l/dryer#B2", "no_outcome")]
    kept = build_process_quality(readings, canonical.empty("production_events"),
                                 canonical.empty("quality_inspections"),
                                 config=ProcessQualityConfig(require_outcome=False))  # fmt: skip
    assert kept.frame["unit_id"].to_list() == ["batch:p/a/l/dryer#B1", "batch:p/a/l/dryer#B2"]
    # sample_index is the clock when the source has no offset: slope per sample
    assert kept.frame["duration_s"].to_list() == [240.0, 2.0]
    assert kept.frame["result"].to_list() == [None, None]


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(CorpusError, match="corpora.process_quality: features: unknown"):
        SPEC.resolve({"features": ["mean", "median"]})
    with pytest.raises(CorpusError, match=r"limits.temp: expected a number"):
        SPEC.resolve({"limits": {"temp": "hot"}})
    with pytest.raises(CorpusError, match=r"keys.lot: expected a mapping"):
        SPEC.resolve({"keys": {"lot": {"lower": True}}})


def test_split_never_puts_one_lot_on_two_sides() -> None:
    m = "s/a/l/m1"
    n = 40
    events = _events([(f"WO{i}", m, f"L{i // 2}", T0 + timedelta(hours=i),
                       T0 + timedelta(hours=i, minutes=30)) for i in range(n)])  # fmt: skip
    readings = _readings([(T0 + timedelta(hours=i, minutes=5), None, None, None, m, "temp", 1.0)
                          for i in range(n)])  # fmt: skip
    inspections = _inspections([(f"L{i}", "od", 1.0, "pass", None) for i in range(n // 2)])
    frame = build_process_quality(readings, events, inspections, config=ProcessQualityConfig()).frame
    assert frame.height == n
    assert frame.group_by("lot_key").agg(pl.col("split").n_unique())["split"].to_list() == [1] * 20
    assert frame.group_by("split").len().sort("split").rows() == [("test", 4), ("train", 32),
                                                                  ("val", 4)]  # fmt: skip
    again = build_process_quality(readings, events, inspections, config=ProcessQualityConfig()).frame
    assert again.equals(frame)


@pytest.mark.slow
@pytest.mark.xdist_group("built")
def test_generated_factory_rows_match_the_planted_outcomes(built, ground_truth) -> None:
    home, _ = built
    truth = ground_truth["process_quality"]
    at = Lake(home.lake)
    frame = lake.read(at.table("process_quality"))
    excluded = lake.read(at.excluded("process_quality"))
    assert frame.height == truth["rows"] == 12
    assert dict(excluded.group_by("check").len().iter_rows()) == truth["excluded"] == {"no_outcome": 42}
    assert sorted(frame["lot_key"]) == sorted(truth["lots"])
    # four lots are keyed in lower case with a leading space by the lab and still joined
    assert len(truth["respelled"]) == 4 and set(truth["respelled"]) <= set(frame["lot_key"])
    for row in frame.iter_rows(named=True):
        lot = truth["lots"][row["lot_key"]]
        assert row["unit_id"] == f"event:{lot['event_id']}"
        assert row["equipment_id"] == lot["equipment_id"]
        assert (row["result"], row["defect_codes"], row["n_inspections"]) == (
            lot["result"], lot["defect_codes"], lot["n_inspections"])
        got = {m["characteristic"]: (m["value"], m["n"]) for m in row["measurements"]}
        assert got == {k: (pytest.approx(v["mean_mm"] / 1000), v["n"])
                       for k, v in lot["measurements"].items()}  # fmt: skip
        assert row["n_readings"] > 0 and row["signals"]
    assert (frame["result"] == "fail").sum() == sum(v["result"] == "fail" for v in truth["lots"].values())
    # without key normalisation the respelled lots lose their outcome
    inputs, _ = read_inputs(home.lake, SPEC)
    raw = SPEC.build(inputs, SPEC.resolve({"keys": {"lot": {"strip": False, "upper": False}}}))
    assert raw.frame.height == truth["rows"] - len(truth["respelled"])


@pytest.mark.slow
@pytest.mark.xdist_group("real")
def test_real_dryer_and_nylon_batches_give_one_row_per_batch(tmp_path) -> None:
    """The McMaster batch historians carry no inspections: every batch is excluded as no_outcome
    by default, and kept (one row per batch) when outcomes are not required."""
    from conftest import REAL_SOURCES

    from corpusmill.home import activate
    from pipelines.runner import run_pipeline

    home = activate(tmp_path / "home")
    run_pipeline(REAL_SOURCES, home)
    at = Lake(home.lake)
    excluded = lake.read(at.excluded("process_quality"))
    by_machine = excluded.group_by("equipment_id", "check").len().sort("equipment_id").rows()
    assert by_machine == [("mcmaster/drying/line1/dryer-01", "no_outcome", 71),
                          ("mcmaster/polymer/line1/autoclave-01", "no_outcome", 57)]  # fmt: skip
    inputs, _ = read_inputs(home.lake, SPEC)
    result = SPEC.build(inputs, SPEC.resolve({"require_outcome": False}))
    assert result.frame.height == 71 + 57 and result.excluded.height == 0
    assert result.frame.group_by("equipment_id").len().sort("equipment_id")["len"].to_list() == [71, 57]
    assert result.frame["n_readings"].sum() == 92200 + 66410
    dryer = result.frame.filter(pl.col("equipment_id") == "mcmaster/drying/line1/dryer-01")
    assert dryer["signals"].list.len().to_list() == [10] * 71
