"""The staged-table write of ingest: batches encoded by several writers, one Delta commit."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from corpusmill import lake
from corpusmill.ingest import WRITERS_ENV, IngestError, writer_threads


def _frame(files: dict[str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_file": [f for f, n in files.items() for _ in range(n)],
            "_row": [i for n in files.values() for i in range(1, n + 1)],
            "value": [float(i) for n in files.values() for i in range(n)],
        }
    )


def _batches(df: pl.DataFrame, rows: int) -> list[pa.RecordBatch]:
    return lake.to_arrow(df).to_batches(max_chunksize=rows)


def _content(path: Path) -> pl.DataFrame:
    return lake.read(path).sort("_file", "_row")


@pytest.mark.parametrize("writers", [1, 2, 3])
def test_parallel_replace_matches_replace_rows(tmp_path: Path, writers: int) -> None:
    first = _frame({"a.csv": 500, "b.csv": 300, "c.csv": 200})
    # one commit holds a, b and c in the same file: replacing b rewrites that file's a and c rows
    lake.replace_rows(tmp_path / "ref", first, where={"_file": ["a.csv", "b.csv", "c.csv"]})
    lake.replace_rows(tmp_path / "par", first, where={"_file": ["a.csv", "b.csv", "c.csv"]})
    new = _frame({"b.csv": 700, "d.csv": 50}).with_columns(pl.col("value") + 1000)
    where = {"_file": ["b.csv", "d.csv", "gone.csv"]}
    lake.replace_rows(tmp_path / "ref", new, where=where)
    v0 = lake.open_table(tmp_path / "par").version()
    arrow = lake.to_arrow(new)
    v = lake.replace_rows_parallel(tmp_path / "par", _batches(new, 64), schema=arrow.schema,
                                   where=where, writers=writers)  # fmt: skip
    assert v == v0 + 1  # one commit
    assert _content(tmp_path / "par").equals(_content(tmp_path / "ref"))
    assert _content(tmp_path / "par").height == 500 + 700 + 200 + 50
    # the scratch tables' logs are gone; the table's files are all it references
    assert not list((tmp_path / "par").glob("*/w*/_delta_log"))


def test_parallel_replace_creates_the_table_and_keeps_other_files(tmp_path: Path) -> None:
    path = tmp_path / "t"
    df = _frame({"a.csv": 1000})
    arrow = lake.to_arrow(df)
    lake.replace_rows_parallel(path, _batches(df, 100), schema=arrow.schema,
                               where={"_file": ["a.csv"]}, writers=2)  # fmt: skip
    assert lake.open_table(path).version() == 0
    other = _frame({"z.csv": 10})
    lake.replace_rows_parallel(path, _batches(other, 100), schema=arrow.schema,
                               where={"_file": ["z.csv"]}, writers=2)  # fmt: skip
    assert _content(path).equals(_content_of(pl.concat([df, other])))
    # a rerun with the same rows changes the content not at all
    lake.replace_rows_parallel(path, _batches(df, 100), schema=arrow.schema,
                               where={"_file": ["a.csv"]}, writers=2)  # fmt: skip
    assert _content(path).equals(_content_of(pl.concat([df, other])))


def _content_of(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort("_file", "_row")


def test_a_failing_stream_commits_nothing_and_leaves_no_scratch(tmp_path: Path) -> None:
    path = tmp_path / "t"
    df = _frame({"a.csv": 100})
    arrow = lake.to_arrow(df)
    lake.replace_rows(path, df, where={"_file": ["a.csv"]})

    def broken():
        yield from _batches(df, 10)
        raise ValueError("disk on fire")

    with pytest.raises(ValueError, match="disk on fire"):
        lake.replace_rows_parallel(path, broken(), schema=arrow.schema,
                                   where={"_file": ["a.csv"]}, writers=2)  # fmt: skip
    assert lake.open_table(path).version() == 0
    assert _content(path).equals(_content_of(df))
    assert not list(path.glob(f"{lake._SCRATCH}-*"))


def test_writer_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WRITERS_ENV, "3")
    assert writer_threads() == 3
    monkeypatch.setenv(WRITERS_ENV, "many")
    with pytest.raises(IngestError, match=WRITERS_ENV):
        writer_threads()
    monkeypatch.delenv(WRITERS_ENV)
    assert 1 <= writer_threads() <= 2


def _stats_columns(path: Path) -> set[str]:
    actions = pa.table(lake.open_table(path).get_add_actions(flatten=True))
    return {
        c.removeprefix("min.")
        for c in actions.column_names
        if c.startswith("min.") and actions.column(c).null_count < actions.num_rows
    }


@pytest.mark.parametrize("writers", [1, 2])
def test_statistics_only_where_reads_skip_files(tmp_path: Path, writers: int) -> None:
    df = _frame({"a.csv": 300, "b.csv": 200}).with_columns(
        _source=pl.lit("s"), _run_id=pl.lit("r1"), unit=pl.lit("bar")
    )
    arrow = lake.to_arrow(df)
    staged, other = tmp_path / "staged", tmp_path / "other"
    lake.replace_rows_parallel(staged, _batches(df, 50), schema=arrow.schema, writers=writers,
                               where={"_file": ["a.csv", "b.csv"]},
                               indexed=("_file", "_row"))  # fmt: skip
    lake.replace_rows(other, df, where={"_file": ["a.csv", "b.csv"]})
    assert _stats_columns(staged) == {"_file", "_row"}
    assert _stats_columns(other) == {"_file", "_row", "value", "unit"}  # not the provenance ones
    # replacing one file still finds it by its statistics, and the other file's rows stay
    again = _frame({"b.csv": 20}).with_columns(_source=pl.lit("s"), _run_id=pl.lit("r2"),
                                               unit=pl.lit("bar"))  # fmt: skip
    lake.replace_rows_parallel(staged, _batches(again, 5), schema=arrow.schema, writers=writers,
                               where={"_file": ["b.csv"]}, indexed=("_file", "_row"))  # fmt: skip
    out = lake.read(staged)
    assert out.group_by("_file").len().sort("_file").rows() == [("a.csv", 300), ("b.csv", 20)]
    assert out.filter(pl.col("_file") == "b.csv")["_run_id"].unique().to_list() == ["r2"]
