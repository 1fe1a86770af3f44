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
    ("2024-03-01 10:00:07", "CNC-01", "speed", "1200", None, "Good"),  # no unit: quarantined
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
        "nonexistent_local_time": 1, "unknown_unit": 1, "missing_unit": 1,
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


def test_wide_tag_columns_are_every_column_but_the_time(tmp_path: Path) -> None:
    m = _mapper(tmp_path, WIDE, WIDE_COLS)
    assert m.tag_columns([*WIDE_COLS, "_row"], {"Time"}) == WIDE_COLS[1:]


BATCHED = """\
  - name: lots
    site: plant
    kind: sensor
    path: x.csv
    format: csv
    shape: batch
    equipment: CNC-01
    batch: {batch_column: lot, offset_column: clock, offset_unit: min}
    signal_units: {T1: degC, T2: bar}
"""
BATCHED_COLS = ["lot", "clock", "T1", "T2"]


def test_batch_file_fast_pass_equals_exact_pass_and_clock_runs_on(tmp_path: Path) -> None:
    fast = _mapper(tmp_path, BATCHED, BATCHED_COLS)
    exact = _mapper(tmp_path, BATCHED, BATCHED_COLS)
    batches = [
        [("A", "0", "20", "1"), ("A", "0.5", " 21 ", "2"), ("B", "0", "Bad", "3")],
        [(" A", "1", "22", "4"), ("B", "x", "23", ""), ("A", "1.5", "24", "5")],
    ]
    got = []
    for i, rows in enumerate(batches):
        batch = _batch(rows, BATCHED_COLS, 1 + 10 * i)
        good, bad = fast.transform(batch)
        want_good, want_bad = exact.transform(batch, exact=True)
        assert_frame_equal(good, want_good)
        assert_frame_equal(bad.sort("_row", "column"), want_bad.sort("_row", "column"))
        assert good.height + bad.height == batch.height * 2  # one unit per tag cell
        got.append((good, bad))
    good = pl.concat([g for g, _b in got])
    # the sample index of a batch id runs on across the file's batches (" A" is batch A)
    t1 = good.filter(pl.col("signal") == "T1").sort("_row")
    assert t1.select("_row", "batch_id", "sample_index", "t_offset_s").rows() == [
        (1, "A", 0, 0.0), (2, "A", 1, 30.0), (11, "A", 2, 60.0), (13, "A", 3, 90.0),
    ]  # fmt: skip
    assert set(t1["unit"]) == {"K"} and t1["value"].to_list() == pytest.approx(
        [293.15, 294.15, 295.15, 297.15]
    )
    t2 = good.filter(pl.col("signal") == "T2").sort("_row")
    assert t2.select("_row", "value", "unit").rows() == [
        (1, 1e5, "Pa"), (2, 2e5, "Pa"), (3, 3e5, "Pa"), (11, 4e5, "Pa"), (13, 5e5, "Pa"),
    ]  # fmt: skip
    # a cell's problem names its tag column, also when the row's clock is the problem
    bad = pl.concat([b for _g, b in got]).sort("_row", "column")
    assert bad.select("_row", "column", "check", "raw_value").rows() == [
        (3, "T1", "non_numeric", "Bad"),
        (12, "T1", "non_numeric", "x"),
        (12, "T2", "non_numeric", "x"),
    ]


@pytest.mark.parametrize(
    ("block", "columns", "rows"),
    [
        (LONG, LONG_COLS, [("2024-03-01 10:00:00", "CNC-01", "temp", "20", "degC", "Good"),
                           ("2024-03-01 10:00:01", "CNC-01", "speed", "5", None, "Good")]),
        (BATCHED.replace("T2: bar", "T3: bar"), BATCHED_COLS, [("A", "0", "20", "1")]),
    ],
    ids=["long", "batch"],
)  # fmt: skip
def test_new_unit_next_to_as_many_unitless_cells_is_converted(
    tmp_path: Path, block: str, columns: list[str], rows: list[tuple]
) -> None:
    """A first batch whose new unit has as many cells as the unit-less ones (values once lost)."""
    batch = _batch(rows, columns, 1)
    good, _bad = _mapper(tmp_path, block, columns).transform(batch)
    want, _want_bad = _mapper(tmp_path, block, columns).transform(batch, exact=True)
    assert want.filter(pl.col("unit") == "K")["value"].to_list() == pytest.approx([293.15])
    assert_frame_equal(good, want)
