"""Sensor windows: counts, alignment, labels, leak-free splits, exclusions, batch clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from corpusmill.windows import WindowConfig, build_windows, duration_us

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NO_MAINT = pl.DataFrame(
    schema={
        "record_id": pl.String,
        "equipment_id": pl.String,
        "reported_utc": pl.Datetime("us", "UTC"),
        "completed_utc": pl.Datetime("us", "UTC"),
        "maintenance_type": pl.String,
    }
)


def readings(machines=("p/a/l/m1",), minutes=60, signals=("temp", "vib"), skip=()):
    rows = [
        {"ts_utc": T0 + timedelta(minutes=i, seconds=10), "equipment_id": m, "signal": s,
         "value": float(i)}
        for m in machines
        for i in range(minutes)
        if i not in skip
        for s in signals
    ]  # fmt: skip
    return pl.DataFrame(rows)


def failure(machine, at, record_id="wo-1", kind="corrective"):
    return pl.DataFrame(
        {
            "record_id": [record_id],
            "equipment_id": [machine],
            "reported_utc": [at],
            "completed_utc": [at + timedelta(hours=2)],
            "maintenance_type": [kind],
        }
    )


def test_exact_window_counts_non_overlapping_and_overlapping():
    r = readings(minutes=60)
    one = WindowConfig(split=(1.0, 0.0, 0.0))
    assert build_windows(r, NO_MAINT, config=one).frame.height == 6
    # 5-minute stride over 60 minutes: starts 00:00 .. 00:55 = 12 candidates; the last one
    # (00:55) holds 5 of 10 buckets (+1 forward fill) and so passes the 0.5 coverage bar
    over = WindowConfig(step="5m", split=(1.0, 0.0, 0.0))
    res = build_windows(r, NO_MAINT, config=over)
    assert res.frame.height + res.excluded.height == 12
    assert res.frame.height == 12


def test_alignment_resample_and_forward_fill_of_one_bucket():
    r = readings(minutes=10, skip={3, 6, 7})  # bucket 3 missing; 6 and 7 missing in a row
    # two readings in bucket 0: the bucket holds their mean
    extra = pl.DataFrame(
        {"ts_utc": [T0 + timedelta(seconds=50)], "equipment_id": ["p/a/l/m1"],
         "signal": ["temp"], "value": [1.0]}
    )  # fmt: skip
    r = pl.concat([r, extra], how="diagonal")
    res = build_windows(r, NO_MAINT, config=WindowConfig(split=(1.0, 0.0, 0.0)))
    w = res.frame.row(0, named=True)
    assert w["start_utc"] == T0 and w["end_utc"] == T0 + timedelta(minutes=10)
    assert w["channels"] == ["temp", "vib"]
    assert w["n_steps"] == 10
    temp, vib = w["values"]
    assert temp == [0.5, 1.0, 2.0, 2.0, 4.0, 5.0, 5.0, None, 8.0, 9.0]
    assert vib == [0.0, 1.0, 2.0, 2.0, 4.0, 5.0, 5.0, None, 8.0, 9.0]
    assert res.frame.schema["values"] == pl.List(pl.List(pl.Float64))
    assert res.frame.schema["label"] == pl.Int8


def test_low_coverage_window_is_excluded_with_reason():
    # the second window has 3 of 10 minutes: coverage (3 + 1 forward-filled) / 10 = 0.4
    r = readings(minutes=13)
    res = build_windows(r, NO_MAINT, config=WindowConfig(split=(1.0, 0.0, 0.0)))
    assert res.frame.height == 1
    assert res.excluded.height == 1
    row = res.excluded.row(0, named=True)
    assert row["start_utc"] == T0 + timedelta(minutes=10)
    assert row["reason"] == "low_coverage 0.4 < 0.5"
    assert res.stats["excluded_by_reason"] == {"low_coverage": 1}


def test_label_from_planted_failure():
    m = "p/a/l/m1"
    r = readings(machines=(m,), minutes=180)
    fails = pl.concat(
        [failure(m, T0 + timedelta(hours=2, minutes=5)),
         failure(m, T0 + timedelta(minutes=20), "pm-1", kind="preventive")]
    )  # fmt: skip
    res = build_windows(r, fails, config=WindowConfig(split=(1.0, 0.0, 0.0)))
    pos = res.frame.filter(pl.col("label") == 1)
    # the failure at 02:05 is within 1 h of the ends 01:10 .. 02:00 -> windows 01:00 .. 01:50
    assert pos["start_utc"].to_list() == [T0 + timedelta(hours=1, minutes=10 * k) for k in range(6)]
    assert set(pos["label_reason"]) == {"wo-1"}
    # the window the failure starts inside is excluded; preventive work is not a failure
    inside = res.excluded.filter(pl.col("reason").str.starts_with("failure"))
    assert inside["start_utc"].to_list() == [T0 + timedelta(hours=2)]
    assert inside["reason"][0] == "failure wo-1 starts inside the window"
    assert res.frame.filter(pl.col("label") == 0)["label_reason"].null_count() == (
        res.frame.height - 6
    )


def test_split_holds_out_whole_equipment_and_cuts_time_without_leaks():
    machines = tuple(f"p/a/l/m{i}" for i in range(1, 8))
    r = readings(machines=machines, minutes=600)
    res = build_windows(r, NO_MAINT)
    w = res.frame
    test_eq = set(w.filter(pl.col("split") == "test")["equipment_id"])
    assert test_eq == set(res.stats["test_equipment"]) and len(test_eq) == 1  # round(7 * .15)
    assert not test_eq & set(w.filter(pl.col("split") != "test")["equipment_id"])
    horizon = timedelta(microseconds=duration_us("1h"))
    for m in set(machines) - test_eq:
        mine = w.filter(pl.col("equipment_id") == m)
        train_end = mine.filter(pl.col("split") == "train")["end_utc"].max()
        val_start = mine.filter(pl.col("split") == "val")["start_utc"].min()
        assert val_start >= train_end + horizon
    # straddling windows are reported: 6 per non-test machine with 10 min windows, 1 h horizon
    straddle = res.excluded.filter(pl.col("reason").str.starts_with("straddles split boundary"))
    assert straddle.height == 6 * 6
    assert straddle.group_by("equipment_id").len()["len"].to_list() == [6] * 6


def test_split_by_time_only_with_few_machines():
    r = readings(machines=("p/a/l/m1", "p/a/l/m2"), minutes=1200)
    res = build_windows(r, NO_MAINT)
    assert res.stats["split_mode"] == "time" and res.stats["test_equipment"] == []
    horizon = timedelta(hours=1)
    for m in ("p/a/l/m1", "p/a/l/m2"):
        mine = res.frame.filter(pl.col("equipment_id") == m)
        spans = {
            s: (mine.filter(pl.col("split") == s)["start_utc"].min(),
                mine.filter(pl.col("split") == s)["end_utc"].max())
            for s in ("train", "val", "test")
        }  # fmt: skip
        assert spans["val"][0] >= spans["train"][1] + horizon
        assert spans["test"][0] >= spans["val"][1] + horizon


def test_deterministic_ids_and_rows():
    r = readings(machines=("p/a/l/m1", "p/a/l/m2", "p/a/l/m3"), minutes=300)
    a = build_windows(r, NO_MAINT)
    b = build_windows(r.reverse(), NO_MAINT)
    assert a.frame.equals(b.frame) and a.excluded.equals(b.excluded)
    assert a.frame["window_id"].n_unique() == a.frame.height
    # the seed picks other held-out machines, but a window keeps its id (equipment + start)
    other = build_windows(r, NO_MAINT, config=WindowConfig(seed=1))
    assert other.stats["test_equipment"] != a.stats["test_equipment"]
    keys = ["equipment_id", "start_utc", "window_id"]
    both = a.frame.select(keys).join(other.frame.select(keys), on=keys[:2])
    assert both.height > 0 and both["window_id"].equals(both["window_id_right"])


def test_batch_relative_clock_windows_by_offset_and_split_by_batch():
    rows = [
        {"ts_utc": None, "batch_id": f"B{b}", "t_offset_s": float(sec),
         "equipment_id": "p/a/l/dryer", "signal": s, "value": float(sec)}
        for b in range(10)
        for sec in range(0, 1800, 30)  # 30 min of data every 30 s
        for s in ("moisture", "temp")
    ]  # fmt: skip
    r = pl.DataFrame(rows, schema_overrides={"ts_utc": pl.Datetime("us", "UTC")})
    res = build_windows(r, NO_MAINT)
    w = res.frame
    assert w.height == 10 * 3  # three 10 min windows per 30 min batch
    assert w["start_utc"].null_count() == w.height
    assert sorted(set(w["t_offset_start_s"])) == [0.0, 600.0, 1200.0]
    assert set(w["label"]) == {0}
    # a batch lands in exactly one split; 7 / 1.5 -> 2 / ... by count
    per_batch = w.group_by("batch_id").agg(pl.col("split").n_unique())
    assert per_batch["split"].max() == 1
    counts = res.stats["batch_splits"]
    assert [len(counts[s]) for s in ("train", "val", "test")] == [7, 1, 2]
    first = w.filter((pl.col("batch_id") == "B0") & (pl.col("t_offset_start_s") == 0.0))
    # the first buckets hold the means of 0 s and 30 s, then of 60 s and 90 s
    assert first["values"][0].to_list()[0][:2] == [15.0, 75.0]


def test_bad_config_is_refused_with_the_field():
    r = readings()
    with pytest.raises(ValueError, match="window '7m' is not a whole number of resample"):
        build_windows(r, NO_MAINT, config=WindowConfig(window="7m", resample="2m"))
    with pytest.raises(ValueError, match="horizon '1mo' is not a fixed-length"):
        build_windows(r, NO_MAINT, config=WindowConfig(horizon="1mo"))
    with pytest.raises(ValueError, match="split must be three fractions"):
        build_windows(r, NO_MAINT, config=WindowConfig(split=(0.5, 0.2, 0.2)))
