"""How mapping fails: a sources file that does not fit the delivered file stops the file
(:class:`MappingError`); a row that cannot be mapped goes to quarantine (:class:`Problem`)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


class MappingError(ValueError):
    """The sources file maps a column that the delivered file does not have."""


@dataclass
class Problem:
    """One way a row can fail at ingest: a mask over the batch and how to describe it."""

    check: pl.Expr  # the rule's code, e.g. "non_numeric" (an expression: time checks vary per row)
    column: pl.Expr  # the delivered column it concerns (per cell for reshaped files)
    mask: pl.Expr  # True where the row has this problem
    raw: pl.Expr  # the delivered value, as text
    reason: pl.Expr  # a readable sentence


def problem(
    check: str | pl.Expr, column: str | pl.Expr, mask: pl.Expr, raw: pl.Expr, reason: pl.Expr
) -> Problem:
    """Most checks and columns are fixed names, given as text; the per-row ones (a time check, a
    reshaped cell's tag column) as expressions."""
    as_expr = lambda v: pl.lit(v, pl.String) if isinstance(v, str) else v  # noqa: E731
    return Problem(as_expr(check), as_expr(column), mask, raw, reason)


def suspect(mask: pl.Expr) -> Problem:
    """A fast-pass problem: only its mask (a superset of the rows with a problem) is used."""
    return problem("suspect", "", mask, pl.lit(None, pl.String), pl.lit(None, pl.String))
