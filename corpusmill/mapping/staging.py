"""One pass over a batch: the expressions it builds and the one query that evaluates them.

The field, unit, time and equipment expressions of a pass share work through the :class:`Pass`:
subexpressions computed once as memo columns, lookups of values the file had not delivered before
resolved after staging (learners), counts taken from the staged batch (after-stage hooks), and, in a
factored wide batch, expressions evaluated per row or per tag instead of per cell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import polars as pl

from corpusmill.mapping.reshape import Factored

#: The engine a pass is evaluated with. A batch is already in memory, and the in-memory engine
#: returns each column in one chunk; the streaming engine returns a column per morsel (about ten
#: for a batch), and Arrow conversion then rechunks every column of every batch to align them,
#: copying the text columns row by row.
ENGINE = "in-memory"


def distinct(frame: pl.DataFrame, col: str) -> list[Any]:
    return frame.get_column(col).unique().to_list()


class Pass:
    """The fast or the exact pass over one batch (for a factored batch: over its cells)."""

    def __init__(self, batch: pl.DataFrame, dims: Factored | None, *, fast: bool) -> None:
        self.batch = batch
        self.dims = dims
        self.fast = fast
        self.memo: dict[str, pl.Expr] = {}
        self.learners: list[Callable[[pl.DataFrame], bool]] = []  # see Mapper.transform
        self.after_stage: list[Callable[[pl.DataFrame], None]] = []

    # -- where a column is -------------------------------------------------------------------

    def dimension_of(self, roots: Iterable[str]) -> pl.DataFrame | None:
        """The dimension of a factored batch holding every column in ``roots``, if one does."""
        return self.dims.frame_of(set(roots)) if self.dims is not None else None

    def frame_of(self, roots: Iterable[str]) -> pl.DataFrame | None:
        """The frame holding every column in ``roots``: a dimension, else the batch (or None)."""
        roots = set(roots)
        frame = self.dimension_of(roots)
        if frame is not None:
            return frame
        return self.batch if roots <= set(self.batch.columns) else None

    def has(self, col: str) -> bool:
        return self.frame_of([col]) is not None

    def dtype(self, expr: pl.Expr) -> pl.DataType:
        frame = self.frame_of(expr.meta.root_names())
        frame = self.batch if frame is None else frame
        return frame.lazy().select(expr.alias("x")).collect_schema()["x"]

    def cell_label(self, label: str) -> str | pl.Expr:
        """Reshaped files report the tag column of the cell, not the melted field."""
        return pl.col("__column") if self.has("__column") else label

    # -- shared work -------------------------------------------------------------------------

    def memo_col(self, name: str, expr: pl.Expr) -> pl.Expr:
        """``expr`` computed once per batch as hidden column ``name`` (a reference to it).

        Masks, values and reasons often share a subexpression (a stripped cell, a parsed number);
        polars does not share it across them, so it is materialised before the fields in
        :meth:`stage`. Memo columns may use earlier ones.
        """
        self.memo[name] = expr
        return pl.col(name)

    def learner(self, memo: str, col: str, learn: Callable[[list[Any]], bool]) -> None:
        """After staging, ``learn(values)`` gets the distinct values of ``col`` in rows where the
        lookup ``memo`` found nothing (values it has not seen); it returns whether it learned
        something, which stages the batch again."""

        def check(staged: pl.DataFrame) -> bool:
            # not a comparison of null counts: a lookup may map a null value to a found entry
            # (a cell without a unit), so equal counts can hide an unseen value
            unseen = staged.get_column(memo).is_null() & staged.get_column(col).is_not_null()
            if not unseen.any():
                return False
            missing = staged.filter(unseen)
            return bool(learn(missing.get_column(col).unique().to_list()))

        self.learners.append(check)

    # -- the query ---------------------------------------------------------------------------

    def gathered(self, col: str) -> pl.Expr:
        e = self.dims.gathered(col) if self.dims is not None else None
        if e is None:
            msg = f"column {col!r} is neither in the batch nor in a dimension"
            raise KeyError(msg)
        return e

    def stage(self, outputs: dict[str, pl.Expr], extra: dict[str, pl.Expr]) -> pl.DataFrame:
        """One pass over the batch: the memo columns, then the ``outputs`` and the ``extra``
        columns (all elementwise and non-raising)."""
        named = dict(self.memo)
        named.update(outputs)
        named.update(extra)
        shown = outputs.keys() | extra.keys()
        # in a factored batch, expressions of one dimension's columns alone are evaluated on that
        # dimension, in order (later ones may use earlier ones), in one query per dimension
        dims = self.dims.frames if self.dims is not None else {}
        cols = {pos: set(frame.columns) for pos, frame in dims.items()}
        home: dict[str, str | None] = {}
        queued: dict[str, list[pl.Expr]] = {pos: [] for pos in dims}
        for name, e in named.items():
            roots = set(e.meta.root_names())
            home[name] = next((pos for pos in dims if roots and roots <= cols[pos]), None)
            if home[name] is not None:
                queued[home[name]].append(e.alias(name))
                cols[home[name]].add(name)
        for pos, es in queued.items():
            if es:
                lf = dims[pos].lazy()
                for e in es:
                    lf = lf.with_columns(e)
                dims[pos] = lf.collect(engine=ENGINE)
        lf, have = self.batch.lazy(), set(self.batch.columns)
        for name, e in named.items():
            if home[name] is not None:
                if name not in shown:
                    continue  # gathered to the cells only if a cell expression reads it (below)
                e = self.gathered(name)
            else:  # per cell: the dimension columns it reads become cell columns
                for col in sorted(set(e.meta.root_names()) - have):
                    lf = lf.with_columns(self.gathered(col).alias(col))
                    have.add(col)
            lf = lf.with_columns(e.alias(name))
            have.add(name)
        return lf.collect(engine=ENGINE)
