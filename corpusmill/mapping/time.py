"""Timestamp fields to UTC, through :mod:`corpusmill.timeutil`.

A text column's format is inferred once per file, from the first batch that delivers it: trying
every format on every batch would cost more than parsing, and a file keeps one format.
"""

from __future__ import annotations

import polars as pl

from corpusmill import timeutil
from corpusmill.config import TimeSpec
from corpusmill.mapping.problems import Problem, problem, suspect
from corpusmill.mapping.staging import Pass


class Timestamps:
    """The timestamp fields of one file: its time policies, zone and the formats inferred so far."""

    def __init__(self, spec: TimeSpec, timezone: str) -> None:
        self.spec = spec
        self.timezone = timezone
        self._formats: dict[str, str | None] = {}  # field -> declared or inferred format

    def parse(
        self, name: str, expr: pl.Expr, label: str, p: Pass
    ) -> tuple[pl.Expr, Problem | None]:
        """The UTC time per row, and the problem of rows whose time is unusable."""
        dtype = p.dtype(expr)
        spec = self.spec
        if name not in self._formats and dtype == pl.String:
            frame = p.frame_of(expr.meta.root_names())
            frame = p.batch if frame is None else frame
            sample = frame.select(expr.alias("t")).get_column("t").drop_nulls().head(1000)
            self._formats[name] = spec.format or timeutil.infer_format(sample)
        fmt = self._formats.get(name)
        kw = dict(timezone=self.timezone, fmt=fmt, ambiguous=spec.ambiguous,
                  nonexistent=spec.nonexistent, dtype=dtype,
                  two_digit_year=spec.two_digit_year)  # fmt: skip
        parsed = p.memo_col(
            f"__ts.{name}", timeutil.parse_local_to_utc(expr, strip=not p.fast, **kw)
        )
        if p.fast:  # blank, padded, unparseable and quarantined times all parse to null here
            return parsed, suspect(expr.is_not_null() & parsed.is_null())
        check = timeutil.time_check(expr, **kw)
        raw = expr.cast(pl.String)
        # time_check is non-null exactly where a present value parses to null (its documented
        # contract), so the mask reuses the parsed column; the check itself is only evaluated on
        # quarantined rows.
        present = expr.is_not_null()
        if dtype == pl.String:
            present = present & (expr.cast(pl.String).str.strip_chars().str.len_chars() > 0)
        return parsed, problem(
            check,
            p.cell_label(label),
            present & parsed.is_null(),
            raw,
            pl.format("{} '{}' in column '{}' (zone {}){}", check, raw, pl.lit(label),
                      pl.lit(self.timezone),
                      pl.when(check == "two_digit_year")
                      .then(pl.lit("; declare the century in the source's time block, e.g. "
                                   "time: {two_digit_year: 2000}"))
                      .otherwise(pl.lit(""))),
        )  # fmt: skip
