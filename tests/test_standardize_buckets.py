"""Standardize in buckets: the same standardized rows and the same duplicates (rows, reasons,
order) as the whole-table path, and no new Delta version when nothing changed.

Row order in a stored table is not compared: the Delta writer spreads a multi-batch write over
its partitions, so neither path stores rows in a guaranteed order."""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path

import polars as pl
import pytest

from corpusmill import canonical, lake
from corpusmill.layout import Lake
from corpusmill.standardize import standardize_table


class _Cfg:
    def __init__(self, sources: list[str]) -> None:
        self._sources = sources

    def ingested_sources(self) -> dict[str, list[str]]:
        return {"sensor_readings": self._sources}


def _rows(source: str, file: str, n: int, rng: random.Random, *, wide: bool = False) -> list[dict]:
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    out = []
    for r in range(1, n + 1):
        for sig in ("temp", "pres") if wide else (rng.choice(["temp", "pres", "flow"]),):
            out.append({
                "ts_utc": t0 + dt.timedelta(seconds=rng.randrange(40)),
                "equipment_id": f"s/a/l/m{rng.randrange(6)}", "signal": sig,
                "value": float(rng.randrange(5)) if rng.random() > 0.05 else None,
                "unit": "K", "quality": rng.choice(["Good", None]),
                "_source": source, "_file": file, "_row": r, "_file_sha256": f"sha-{file}",
                "_run_id": "ingest-1",
            })  # fmt: skip
    return out


def _lake(tmp: Path, drop_in_b: str | None = None) -> Path:
    """Two staged sources (one wide: two readings per file row) with duplicates within a file,
    across files and across sources; each staged table stored out of (file, row) order.
    ``drop_in_b``: a column source b's table lacks (one staged before the column existed)."""
    rng = random.Random(7)
    root = tmp / "lake"
    schema = canonical.schema("sensor_readings")
    a = _rows("a", "a/big.csv", 1500, rng) + _rows("a", "a/small1.csv", 40, rng)
    a += _rows("a", "a/small2.csv", 30, rng)
    b = _rows("b", "b/wide.csv", 300, rng, wide=True)
    # copies of earlier content under other provenance: cross-source and cross-file duplicates
    for r in rng.sample(a, 60):
        b.append({**r, "_source": "b", "_file": "b/copy.csv", "_row": len(b), "_file_sha256": "x"})
    for rows, name in ((a, "a"), (b, "b")):
        rng.shuffle(rows)
        frame = pl.DataFrame(rows, schema=schema)
        if name == "b" and drop_in_b:
            frame = frame.drop(drop_in_b)
        lake.overwrite(Lake(root).staged(name), frame)
    return root


@pytest.mark.parametrize("drop_in_b", [None, "sample_index"])
def test_buckets_give_the_whole_table_result(tmp_path: Path, drop_in_b: str | None):
    root = _lake(tmp_path, drop_in_b)
    other = tmp_path / "lake2"
    shutil.copytree(root, other)
    cfg = _Cfg(["a", "b"])
    whole = standardize_table(cfg, root, "sensor_readings", run_id="r1")  # type: ignore[arg-type]
    parts = standardize_table(cfg, other, "sensor_readings", run_id="r1",  # type: ignore[arg-type]
                              bucket_rows=200)  # fmt: skip
    assert whole[0] == parts[0] == 1570 + 600 + 60
    assert whole[1] == parts[1]
    assert whole[2].height == parts[2].height > 60  # the copies and the random repeats
    assert parts[2].equals(whole[2])
    std_whole = lake.read(Lake(root).standardized("sensor_readings"))
    std_parts = lake.read(Lake(other).standardized("sensor_readings"))
    assert std_parts.height == whole[1]
    assert std_parts.sort(pl.all()).equals(std_whole.sort(pl.all()))
    q = "_quarantine/standardize/sensor_readings"
    assert lake.read(other / q).sort(pl.all()).equals(lake.read(root / q).sort(pl.all()))

    # a rerun on unchanged staged tables commits nothing
    version = lake.open_table(Lake(other).standardized("sensor_readings")).version()
    again = standardize_table(cfg, other, "sensor_readings", run_id="r2",  # type: ignore[arg-type]
                              bucket_rows=200)  # fmt: skip
    assert again[1] == parts[1]
    assert lake.open_table(Lake(other).standardized("sensor_readings")).version() == version


def test_dedupe_matches_grouping_on_every_column():
    """Only rows sharing a content hash are grouped exactly: the result must still be what
    grouping every row by every canonical column gives, for nulls, NaN and -0.0 too."""
    from corpusmill.standardize import dedupe

    rng = random.Random(3)
    rows = _rows("a", "a/f.csv", 400, rng)
    specials = [0.0, -0.0, float("nan"), None, 1.0]
    for r in rows[:200]:  # few contents, so many repeats, around the values hashing must agree on
        r.update(ts_utc=rows[0]["ts_utc"], equipment_id="s/a/l/m0", signal="temp",
                 value=rng.choice(specials))  # fmt: skip
    frame = pl.DataFrame(rows, schema=canonical.schema("sensor_readings"))
    kept, dups = dedupe(frame, "sensor_readings", run_id="r1")

    key = [c for c in canonical.TABLES["sensor_readings"] if c != "content"]
    groups = frame.with_row_index("i").group_by(key, maintain_order=True).agg("i", "_row")
    expect_kept = sorted(g[0] for g in groups["_row"].to_list())
    expect_dups = sorted((r, g[0]) for g in groups["_row"].to_list() for r in g[1:])
    assert kept["_row"].to_list() == expect_kept  # kept in delivery order
    assert len(expect_dups) > 150
    got = sorted(zip(dups["_row"].to_list(), dups["reason"].to_list(), strict=True))
    assert got == [(r, f"exact duplicate of a/f.csv row {first}") for r, first in expect_dups]
