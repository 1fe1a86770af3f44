"""Wide and batch sensor files, reshaped to one reading per tag cell.

A wide file (a time column and one column per tag) and a batch file (a batch id, maybe a clock
since the batch started, one column per tag) carry many readings per delivered row; the canonical
table has one row per reading, so each tag cell becomes one. The tag's column name gives its
equipment, signal and unit (see :meth:`Reshaper.tag_table`).
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from corpusmill import units
from corpusmill.config import BatchSpec, Source, WideSpec
from corpusmill.mapping.problems import MappingError


class Factored:
    """A melted wide batch kept factored.

    The cells (``__value``, ``__row_pos``, ``__tag_pos``) are the batch; one frame holds the
    per-row columns (time, ``_row``) and one the per-tag columns (equipment, signal, unit,
    ``__column``). An expression of one dimension's columns alone is evaluated once per row or per
    tag and gathered to the cells, instead of once per cell (see
    :meth:`corpusmill.mapping.staging.Pass.stage`).
    """

    def __init__(self, rows: pl.DataFrame, tags: pl.DataFrame) -> None:
        # by the cells' position column; staging adds columns to these frames, so a column is
        # looked for in the tags first, as it always has been
        self.frames: dict[str, pl.DataFrame] = {"__tag_pos": tags, "__row_pos": rows}
        self._melted = (rows, tags)  # without staged columns: materialize gives the cells' own

    def frame_of(self, roots: set[str]) -> pl.DataFrame | None:
        """The dimension holding every column in ``roots``, if one does."""
        for frame in self.frames.values():
            if roots and roots <= set(frame.columns):
                return frame
        return None

    def gathered(self, col: str) -> pl.Expr | None:
        """A dimension's column as a cell column, if a dimension has it."""
        for pos, frame in self.frames.items():
            if col in frame.columns:
                return pl.lit(frame.get_column(col)).gather(pl.col(pos))
        return None

    def materialize(self, cells: pl.DataFrame) -> pl.DataFrame:
        """Cells as plain rows carrying their row's and tag's columns."""
        rows, tags = self._melted
        return pl.concat(
            [cells, rows[cells.get_column("__row_pos")], tags[cells.get_column("__tag_pos")]],
            how="horizontal",
        )


class Reshaper:
    """Reshapes the batches of one wide or batch file, keeping across its batches what the next
    batch reuses: the tag table of its tag columns and each batch id's next sample index."""

    def __init__(self, src: Source, file_id: str | None = None) -> None:
        self.src = src
        self.file_id = file_id  # batch_id of a run_from: file source
        self._tag_tables: dict[tuple[str, ...], pl.DataFrame] = {}
        self._batch_positions: dict[str, int] = {}  # batch id -> next sample index
        self._cell_positions: tuple[tuple[int, int], tuple[pl.Series, pl.Series]] | None = None

    def _spec(self) -> WideSpec | BatchSpec:
        spec = self.src.wide or self.src.batch
        assert spec is not None
        return spec

    def tag_columns(self, columns: list[str], exclude: set[str]) -> list[str]:
        """The delivered columns holding readings (every cell of them is one reading)."""
        spec = self._spec()
        candidates = [c for c in columns if c not in exclude and c != "_row"]
        if spec.tag_columns == "all":
            return candidates
        if isinstance(spec.tag_columns, list):
            return [c for c in spec.tag_columns if c in candidates]
        rx = re.compile(spec.tag_columns)
        return [c for c in candidates if rx.search(c)]

    def tag_table(self, tags: list[str]) -> pl.DataFrame:
        """Per tag column: the equipment alias, signal and unit its readings carry."""
        spec = self._spec()
        rx = re.compile(spec.equipment_from_tag) if spec.equipment_from_tag else None
        rows = []
        for tag in tags:
            ts = spec.tags.get(tag)
            equipment = ts.equipment if ts and ts.equipment else None
            signal = ts.signal if ts and ts.signal else None
            if rx is not None and (m := rx.search(tag)):
                equipment = equipment or m.group("equipment")
                if "signal" in rx.groupindex and m.group("signal"):
                    signal = signal or m.group("signal")
            equipment = equipment or self.src.equipment
            signal = self.src.signals.get(signal or tag, signal or tag)
            unit = (ts.unit if ts and ts.unit else None) or self.src.signal_units.get(signal)
            rows.append({"__tag": tag, "__equipment": equipment, "__signal": signal,
                         "__unit": unit})  # fmt: skip
        return pl.DataFrame(
            rows, schema={"__tag": pl.String, "__equipment": pl.String, "__signal": pl.String,
                          "__unit": pl.String},
        )  # fmt: skip

    def melt(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, Factored | None]:
        """One row per tag cell, and for a wide batch the dimensions its cells are factored on."""
        if self.src.wide is not None:
            keys = [self.src.wide.time_column]
            return self._melt_factored(batch, keys, self.tag_columns(batch.columns, set(keys)))
        b = self.src.batch
        assert b is not None
        if b.orientation == "columns":
            return self._melt_transposed(batch), None
        keys = [k for k in (b.batch_column, b.offset_column) if k]
        tags = self.tag_columns(batch.columns, set(keys))
        long = batch.select(
            *keys, "_row", *[pl.col(t).cast(pl.String).alias(t) for t in tags]
        ).unpivot(index=[*keys, "_row"], on=tags, variable_name="__tag", value_name="__value")
        long = self._batch_clock(long.join(self.tag_table(tags), on="__tag", how="left"))
        # keep the delivered file order: row, then tag column order
        order = {t: i for i, t in enumerate(tags)}
        return long.with_columns(
            pl.col("__tag").replace_strict(order, return_dtype=pl.Int32).alias("__tag_pos"),
            pl.col("__tag").alias("__column"),
        ).sort("_row", "__tag_pos"), None

    def _melt_factored(
        self, batch: pl.DataFrame, keys: list[str], tags: list[str]
    ) -> tuple[pl.DataFrame, Factored]:
        """A wide batch as cells (tag column by tag column), with the per-row and per-tag frames
        set aside for :meth:`Pass.stage`: no per-cell copy of the time, equipment or signal."""
        key = tuple(tags)
        table = self._tag_tables.get(key)
        if table is None:
            table = self._tag_tables[key] = self.tag_table(tags).with_columns(
                pl.col("__tag").alias("__column")
            )
        assert self.src.wide is not None
        n, t = batch.height, len(tags)
        rows = batch.select(*keys, "_row", pl.col(self.src.wide.time_column).alias("__ts_utc"))
        values = (
            pl.concat([batch.get_column(c).cast(pl.String) for c in tags])
            if t else pl.Series(dtype=pl.String)
        )  # fmt: skip
        row_pos, tag_pos = self._positions(n, t)
        cells = pl.DataFrame(
            {"__value": values.rechunk(), "__row_pos": row_pos, "__tag_pos": tag_pos}
        )  # values rechunked: one chunk per tag column otherwise, and every later op pays for them
        return cells, Factored(rows, table)

    def _positions(self, n: int, t: int) -> tuple[pl.Series, pl.Series]:
        """Each cell's row and tag position in a batch of ``n`` rows by ``t`` tags (tag column by
        tag column); the batches of a file share one shape (but for the last), so it is kept."""
        if self._cell_positions is None or self._cell_positions[0] != (n, t):
            self._cell_positions = ((n, t), (
                pl.Series("__row_pos", np.tile(np.arange(n, dtype=np.uint32), t)),
                pl.Series("__tag_pos", np.repeat(np.arange(t, dtype=np.uint32), n)),
            ))  # fmt: skip
        return self._cell_positions[1]

    def _melt_transposed(self, batch: pl.DataFrame) -> pl.DataFrame:
        """A transposed file (one variable per row, samples in columns) as one reading per cell:
        the sample index is the column's position among the sample columns."""
        b = self.src.batch
        assert b is not None and b.variable_column is not None
        var = b.variable_column
        samples = self.tag_columns(batch.columns, {var})
        order = {c: i for i, c in enumerate(samples)}
        long = batch.select(
            pl.col(var).cast(pl.String).str.strip_chars().alias("__tag"), "_row",
            *[pl.col(c).cast(pl.String).alias(c) for c in samples],
        ).unpivot(index=["__tag", "_row"], on=samples, variable_name="__column",
                  value_name="__value")  # fmt: skip
        tags = long.get_column("__tag").drop_nulls().unique(maintain_order=True).to_list()
        long = long.join(self.tag_table(tags), on="__tag", how="left").with_columns(
            pl.col("__column").replace_strict(order, return_dtype=pl.Int64).alias("__sample_index"),
            pl.lit(self.file_id, pl.String).alias("__batch_id"),
        )
        if b.period_s is not None:
            long = long.with_columns(
                (pl.col("__sample_index").cast(pl.Float64) * b.period_s).alias("__t_offset_s")
            )
        return long.sort("_row", "__sample_index")

    def _batch_clock(self, long: pl.DataFrame) -> pl.DataFrame:
        b = self.src.batch
        assert b is not None
        if b.run_from == "file":
            batch_id = pl.lit(self.file_id, pl.String)
        else:
            batch_id = pl.col(b.batch_column).cast(pl.String).str.strip_chars()
        long = long.with_columns(batch_id.alias("__batch_id"))
        # sample index: position of the delivered row within its batch, carried across batches
        rows = long.select("__batch_id", "_row").unique(maintain_order=True).sort("_row")
        idx = rows.with_columns(pl.int_range(pl.len()).over("__batch_id").alias("__local"))
        start = {k: self._batch_positions.get(k, 0) for k in idx["__batch_id"].unique().to_list()}
        idx = idx.with_columns(
            (pl.col("__local") + pl.col("__batch_id").replace_strict(start, default=0,
             return_dtype=pl.Int64)).alias("__sample_index")  # fmt: skip
        )
        for k, n in idx.group_by("__batch_id").agg(pl.len()).iter_rows():
            self._batch_positions[k] = self._batch_positions.get(k, 0) + n
        long = long.join(idx.select("_row", "__sample_index"), on="_row", how="left")
        if b.offset_column:
            if units.to_si(b.offset_unit)[2] != "s":
                msg = f"source {self.src.name!r}: batch.offset_unit {b.offset_unit!r} is not a time"
                raise MappingError(msg)
            long = long.with_columns(pl.col(b.offset_column).cast(pl.String).alias("__t_offset_s"))
        elif b.period_s is not None:
            long = long.with_columns(
                (pl.col("__sample_index").cast(pl.Float64) * b.period_s).alias("__t_offset_s")
            )
        return long
