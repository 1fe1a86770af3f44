"""Wide and batch sensor files, reshaped to one reading per tag cell."""

from __future__ import annotations

import polars as pl


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
