"""The Mapper's fast pass (cheap expressions, flagged rows redone exactly, values learned across
batches, wide batches kept factored) gives exactly what the exact pass gives on every row."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from corpusmill import config
from corpusmill.config import normalize_alias
from corpusmill.mapping import FileContext, Mapper

HEAD = """\
version: 1
data_roots: [.]
sites:
  plant: {timezone: Europe/Berlin}
equipment:
  - {id: plant/a/l1/cnc-01, aliases: [CNC-01, cnc01]}
  - {id: plant/a/l1/cnc-02, aliases: [CNC-02]}
sources:
"""

LONG = """\
  - name: long
    site: plant
    kind: sensor
    path: x.csv
    format: csv
    fields: {ts_utc: t, equipment_id: eq, signal: sig, value: v, unit: u, quality: q}
"""

WIDE = """\
  - name: wide
    site: plant
    kind: sensor
    path: x.csv
    format: csv
    shape: wide
    wide:
      time_column: Time
      equipment_from_tag: '^(?P<equipment>[^.]+)\\.(?P<signal>.+)$'
    signal_units: {Temp: degF, Press: psi, Speed: rpm}
"""


def _mapper(tmp_path: Path, block: str, columns: list[str]) -> Mapper:
    yml = tmp_path / "sources.yaml"
    yml.write_text(HEAD + block, encoding="utf-8")
    cfg = config.load(yml)
    src = cfg.sources[0]
    table = "sensor_readings"
    return Mapper(cfg, src, FileContext(src.name, "x.csv", "ab" * 32, "run-1", table), columns)


def _batch(rows: list[tuple], columns: list[str], first_row: int) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String), orient="row")
    return frame.with_columns(pl.int_range(first_row, first_row + frame.height).alias("_row"))


LONG_COLS = ["t", "eq", "sig", "v", "u", "q"]
# batch 1: clean rows, then every kind of row the fast pass must flag or learn
BATCH1 = [
    ("2024-03-01 10:00:00", "CNC-01", "temp", "20.5", "degC", "Good"),
    ("2024-03-01 10:00:01", "cnc01", "press", "1.5", "bar", "Good"),
    ("2024-03-01 10:00:02", " CNC-02 ", "temp", " 21.0 ", "degC", "Good"),  # padded
    ("2024-03-01 10:00:03", "CNC-09", "temp", "22.0", "degC", "Good"),  # unknown machine
    ("2024-03-01 10:00:04", "CNC-01", "temp", "Bad", "degC", "Bad"),  # historian status
    ("2024-03-01 10:00:05", "CNC-01", "temp", "", "degC", "Good"),  # blank value
    ("  ", "CNC-01", "temp", "23.0", "degC", "Good"),  # blank time
    ("31/02/2024 99:00", "CNC-01", "temp", "23.0", "degC", "Good"),  # bad time
    ("2024-03-31 02:30:00", "CNC-01", "temp", "23.0", "degC", "Good"),  # DST gap in Berlin
    ("2024-03-01 10:00:06", "CNC-01", "temp", "24.0", "blorps", "Good"),
    ("2024-03-01 10:00:07", "CNC-01", "speed", "1200", None, "Good"),  # no unit
    (None, None, None, None, None, None),
]
# batch 2: spellings, units and flags the file had not delivered before; a padded flag
BATCH2 = [
    ("2024-03-01 11:00:00", "CNC-02", "temp", "68", "degF", "Good"),
    ("2024-03-01 11:00:01", "cnc01", "press", "14.7", "psi", " Uncertain"),
    ("2024-03-01 11:00:02", "CNC-01", "temp", "25", "degC", "Uncertain"),
    ("2024-03-01 11:00:03", "CNC-77", "temp", "25", "K", "Good"),
]


def test_long_fast_pass_equals_exact_pass(tmp_path: Path) -> None:
    fast = _mapper(tmp_path, LONG, LONG_COLS)
    exact = _mapper(tmp_path, LONG, LONG_COLS)
    row = 1
    for rows in (BATCH1, BATCH2, BATCH1):
        batch = _batch(rows, LONG_COLS, row)
        row += batch.height
        good, bad = fast.transform(batch)
        want_good, want_bad = exact.transform(batch, exact=True)
        assert_frame_equal(good, want_good)
        assert_frame_equal(bad.sort("_row"), want_bad.sort("_row"))
        assert good.height + bad.height == batch.height  # nothing lost, nothing doubled
    _good, bad = exact.transform(_batch(BATCH1, LONG_COLS, 1), exact=True)
    checks = Counter(bad["check"].to_list())
    assert checks == {
        "non_numeric": 1, "unknown_equipment": 1, "bad_timestamp": 1,
        "nonexistent_local_time": 1, "unknown_unit": 1,
    }  # fmt: skip


def test_long_fast_pass_tallies_every_spelling_once(tmp_path: Path) -> None:
    m = _mapper(tmp_path, LONG, LONG_COLS)
    want: Counter[str] = Counter()
    for i, rows in enumerate((BATCH1, BATCH2, BATCH2)):
        m.transform(_batch(rows, LONG_COLS, 1 + 100 * i))
        want.update(r[1].strip() for r in rows if r[1] is not None)
    seen: Counter[str] = Counter()
    for (alias, eid), n in m.tally.seen.items():
        seen[alias] += n
        assert eid == m.aliases.get(normalize_alias(alias))
    assert seen == want
    assert set(m.tally.suggestions) == {"CNC-09", "CNC-77"}  # unknown spellings, each noted


WIDE_COLS = ["Time", "CNC-01.Temp", "CNC-01.Press", "CNC-02.Speed", "CNC-09.Temp"]


@pytest.mark.parametrize("blank", ["", "   "])
def test_wide_factored_batch_equals_exact_pass_on_cells(tmp_path: Path, blank: str) -> None:
    fast = _mapper(tmp_path, WIDE, WIDE_COLS)
    exact = _mapper(tmp_path, WIDE, WIDE_COLS)
    rows = [
        ("2024-03-01 10:00:00", "68.0", "14.7", "1200", "70"),
        ("2024-03-01 10:05:00", " 69.5", "Scan Timeout", "1210", "71"),
        (blank, "70.0", "14.8", None, "72"),
        ("2024-03-31 02:30:00", "71.0", "14.9", "1230", "73"),
        ("garbage", "Inp OutRange", blank, "1240", "74"),
    ]
    for first in (1, 6):
        batch = _batch(rows, WIDE_COLS, first)
        good, bad = fast.transform(batch)
        want_good, want_bad = exact.transform(batch, exact=True)  # the same cells, unfactored
        assert_frame_equal(good, want_good)
        assert_frame_equal(bad.sort("_row", "column"), want_bad.sort("_row", "column"))
        assert good.height + bad.height == batch.height * 4  # one unit per tag cell
    units = dict(good.select("signal", "unit").unique().iter_rows())
    assert units == {"Temp": "K", "Press": "Pa", "Speed": "rad/s"}
    # the first problem of a cell wins, equipment first: CNC-09's five cells are unknown machine
    assert dict(bad.group_by("check").len().iter_rows()) == {
        "non_numeric": 1, "unknown_equipment": 5, "bad_timestamp": 3,
        "nonexistent_local_time": 3,
    }  # fmt: skip
