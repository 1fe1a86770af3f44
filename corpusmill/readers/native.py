"""Frames from natively typed values (Excel cells, SQLite rows): a column keeps its values'
type when they agree; mixed types become text.
"""

from __future__ import annotations

from typing import Any

import polars as pl


def _native_series(name: str, values: list[Any]) -> pl.Series:
    """A column keeping the values' type when they agree; mixed types become text."""
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, float} or len(kinds) <= 1:
        try:
            return pl.Series(name, values, strict=False if kinds <= {int, float} else True)
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            pass
    return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String())


def _native_frame(columns: list[str], rows: list[tuple[int, tuple[Any, ...]]]) -> pl.DataFrame:
    series = [_native_series(c, [r[i] for _, r in rows]) for i, c in enumerate(columns)]
    series.append(pl.Series("_row", [n for n, _ in rows], dtype=pl.Int64()))
    return pl.DataFrame(series)
