"""read_inputs gives the sensor corpora only the sensor columns their builders read, a few machines
at a time, and a build from those groups equals a build from the whole table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from corpusmill import canonical, lake
from corpusmill.byequipment import ByEquipment
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
    sensor = frames["sensor_readings"]
    assert isinstance(sensor, ByEquipment) and sensor.columns == cols and sensor.height == 4000
    assert pl.concat(list(sensor)).sort(cols).equals(df.select(cols).sort(cols))
    # the fingerprint is the one the writing commit carries: no pass over the table for it
    path = Lake(tmp_path).table("sensor_readings")
    assert sensor.fingerprint == lake.commit_fingerprint(path, versions["sensor_readings"])
    assert sensor.fingerprint is not None
    assert versions["sensor_readings"] == lake.open_table(Lake(tmp_path).table("sensor_readings")).version()
    assert versions["maintenance_records"] is None
    assert frames["maintenance_records"].schema == canonical.schema("maintenance_records")

    a = spec.build({**frames, "sensor_readings": df})
    b = spec.build(frames)
    assert a.frame.height > 0
    assert a.frame.equals(b.frame) and a.excluded.equals(b.excluded) and a.stats == b.stats


def test_machines_are_packed_whole_into_groups_and_unnamed_rows_kept() -> None:
    df = pl.DataFrame({
        "equipment_id": ["a"] * 5 + ["b"] * 2 + ["c"] * 2 + [None] * 3 + ["d"] * 9,
        "value": [float(i) for i in range(21)],
    })  # fmt: skip
    by = ByEquipment.scan(df.lazy(), rows=4)
    assert by.groups == (("a",), ("b", "c"), ("d",), (None,))
    parts = list(by)
    assert [p.height for p in parts] == [5, 4, 9, 3]
    assert pl.concat(parts).sort("value").equals(df.sort("value"))  # every row exactly once
    # the fingerprint, computed group by group, ignores order and sees a changed value
    assert by.content_fingerprint() == ByEquipment.scan(df.reverse().lazy(), rows=4).content_fingerprint()
    changed = df.with_columns(pl.when(pl.col("value") == 3).then(-1.0).otherwise("value").alias("value"))
    assert by.content_fingerprint() != ByEquipment.scan(changed.lazy(), rows=4).content_fingerprint()
    with pytest.raises(ValueError, match="rows per group"):
        ByEquipment.scan(df.lazy(), rows=0)


@pytest.mark.slow
@pytest.mark.xdist_group("built")
@pytest.mark.parametrize("name", ["timeseries_windows", "process_quality"])
def test_a_build_machine_by_machine_equals_the_whole_table_build(built, name) -> None:
    """Each machine in a group of its own gives the rows, exclusions and stats of the build that
    holds every reading at once, and of the published version."""
    home, _ = built
    spec = CORPORA[name]
    frames, _ = read_inputs(home.lake, spec)
    sensor = frames["sensor_readings"]
    assert isinstance(sensor, ByEquipment)
    whole = spec.build({**frames, "sensor_readings": pl.concat(list(sensor))})
    one_each = ByEquipment.scan(sensor.source, rows=1)
    assert len(one_each.groups) > 3
    grouped = spec.build({**frames, "sensor_readings": one_each})
    assert grouped.frame.height > 0
    assert grouped.frame.equals(whole.frame)
    assert grouped.excluded.equals(whole.excluded)
    assert grouped.stats == whole.stats
    published = lake.read(Lake(home.lake).table(name)).select(list(spec.schema))
    assert published.sort(spec.id_column).equals(grouped.frame.sort(spec.id_column))
