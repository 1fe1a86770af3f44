"""read_inputs gives the sensor corpora only the sensor columns their builders read, and a build
from those columns equals a build from the whole table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from corpusmill import canonical, lake
from corpusmill.corpora import CORPORA, read_inputs
from corpusmill.layout import Lake


def _sensor_table(root: Path) -> pl.DataFrame:
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = [
        {"ts_utc": t0 + dt.timedelta(seconds=10 * k), "equipment_id": f"s/a/l/m{k % 2}",
         "signal": ("temp", "pres")[k % 3 % 2], "value": float(k % 17), "unit": "K",
         "quality": "Good", "_source": "hist", "_file": "f.csv", "_row": k + 1,
         "_file_sha256": "sha", "_run_id": "r"}
        for k in range(4000)
    ]  # fmt: skip
    df = pl.DataFrame(rows, schema=canonical.schema("sensor_readings"))
    lake.overwrite(Lake(root).table("sensor_readings"), df)
    return df


def test_sensor_corpora_read_only_the_columns_they_build_from(tmp_path: Path):
    df = _sensor_table(tmp_path)
    spec = CORPORA["timeseries_windows"]
    frames, versions = read_inputs(tmp_path, spec)
    cols = list(CORPORA["timeseries_windows"].input_columns["sensor_readings"])
    assert frames["sensor_readings"].columns == cols
    assert frames["sensor_readings"].equals(df.select(cols))
    assert versions["sensor_readings"] == lake.open_table(Lake(tmp_path).table("sensor_readings")).version()
    assert versions["maintenance_records"] is None
    assert frames["maintenance_records"].schema == canonical.schema("maintenance_records")

    a = spec.build({**frames, "sensor_readings": df})
    b = spec.build(frames)
    assert a.frame.height > 0
    assert a.frame.equals(b.frame) and a.excluded.equals(b.excluded) and a.stats == b.stats
