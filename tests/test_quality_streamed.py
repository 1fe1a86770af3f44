"""Validating a large table lazily on the streaming engine gives validate_table's results: the same
outcomes per source, row failures, quarantine rows and reasons, and the same good rows."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import polars as pl

from corpusmill import canonical, lake
from corpusmill.layout import Lake
from quality.publish import validate_canonical


def _standardized(root: Path) -> pl.DataFrame:
    rng = random.Random(3)
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = []
    for k in range(3000):
        batch = rng.random() < 0.1
        unit = rng.choice(["K", "Pa", "m/s"])
        value = {"K": rng.uniform(100, 1400), "Pa": rng.uniform(-10, 2e8), "m/s": 1.0}[unit]
        rows.append({
            "ts_utc": None if batch or rng.random() < 0.01 else t0 + dt.timedelta(seconds=k),
            "batch_id": "B1" if batch else None, "t_offset_s": float(k) if batch else None,
            "sample_index": None, "equipment_id": None if rng.random() < 0.01 else "s/a/l/m1",
            "signal": rng.choice(["temp", None] if rng.random() < 0.02 else ["temp", "pres"]),
            "value": None if rng.random() < 0.02 else value, "unit": unit,
            "quality": rng.choice(["Good", "Good", "Uncertain", "weird", None]),
            "_source": rng.choice(["hist_a", "hist_b", "hist_c"]), "_file": f"f{k % 7}.csv",
            "_row": k + 1, "_file_sha256": "sha", "_run_id": "r0",
        })  # fmt: skip
    df = pl.DataFrame(rows, schema=canonical.schema("sensor_readings"))
    lake.overwrite(Lake(root).standardized("sensor_readings"), df)
    return df


def _outcomes(v) -> list:
    out = []
    for r in v.results:
        rf = None if r.row_failures is None else r.row_failures.to_dicts()
        out.append((r.source, r.suite_name, r.success, r.n_rows, rf,
                    [o.to_gx_json() for o in r.results]))  # fmt: skip
    return out


def test_streamed_validation_matches_the_frame_path(tmp_path: Path):
    whole_root, streamed_root = tmp_path / "a", tmp_path / "b"
    _standardized(whole_root)
    _standardized(streamed_root)
    whole = validate_canonical(None, whole_root, tmp_path / "gx_a", "sensor_readings",  # type: ignore[arg-type]
                               run_id="r1", stream_rows=10**9)  # fmt: skip
    streamed = validate_canonical(None, streamed_root, tmp_path / "gx_b", "sensor_readings",  # type: ignore[arg-type]
                                  run_id="r1", stream_rows=100)  # fmt: skip
    w, s = whole.validation, streamed.validation
    assert s.good.height < w.good.height == w.rows_kept  # the streamed one holds a preview
    assert s.good.equals(w.good.head(s.good.height))
    assert (s.rows_in, s.rows_kept, s.rows_quarantined) == (w.rows_in, w.rows_kept, w.rows_quarantined)
    assert w.rows_quarantined > 100 and whole.stored == streamed.stored
    assert [r.source for r in s.results] == [r.source for r in w.results]
    assert len(s.results) == 3
    assert _outcomes(s) == _outcomes(w)
    assert s.summary.equals(w.summary)
    assert s.quarantine.equals(w.quarantine)
    table = lake.read(Lake(streamed_root).table("sensor_readings"))
    assert table.sort(pl.all()).equals(w.good.sort(pl.all()))

    # nothing changed: no new version of the table
    path = Lake(streamed_root).table("sensor_readings")
    version = lake.open_table(path).version()
    validate_canonical(None, streamed_root, tmp_path / "gx_b", "sensor_readings",  # type: ignore[arg-type]
                       run_id="r2", stream_rows=100)  # fmt: skip
    assert lake.open_table(path).version() == version
