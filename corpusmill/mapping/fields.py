"""Canonical field expressions for delivered cells: text, numbers (before unit conversion, see
:mod:`corpusmill.mapping.units`) and whole numbers.

Each comes in the fast pass's form (cheap, with a mask flagging every row that might have a problem)
and the exact pass's (trimmed, with the problem worded); see :meth:`Mapper.transform`.
"""

from __future__ import annotations

import polars as pl

from corpusmill.mapping.problems import Problem, problem, suspect
from corpusmill.mapping.staging import Pass

#: Values sampled to tell a repetitive text column from one of mostly distinct values.
_SAMPLE = 4096


def text(col: str) -> pl.Expr:
    """A delivered column as trimmed text: the form units, signals and spellings are read in."""
    return pl.col(col).cast(pl.String).str.strip_chars()


class Text:
    """What a file's text columns have shown so far: which are repetitive (sampled once), and per
    column the values known to need no trimming. Kept across the batches of the file, so a batch
    checks only values it is the first to deliver."""

    def __init__(self) -> None:
        self._repetitive: dict[str, bool] = {}  # text column -> few distinct values (sampled)
        self._clean: dict[str, set[str]] = {}  # column -> values known to need no trimming

    def of(self, expr: pl.Expr, p: Pass) -> pl.Expr:
        """``expr`` as text without surrounding whitespace.

        Machine exports repeat a few values (signal names, flags, codes) in a column: once those
        values are known to have nothing to trim, the column is used as it is, which costs a
        lookup instead of trimming every row; a value not seen before is checked after staging
        (see :meth:`Pass.learner`). Python's ``str.strip`` trims a superset of the characters polars
        trims, so a value it leaves alone needs no trimming. Columns of mostly distinct values,
        and the exact pass, trim row by row.
        """
        stripped = expr.cast(pl.String).str.strip_chars()
        roots = expr.meta.root_names()
        if not expr.meta.is_column() or len(roots) != 1:
            return stripped
        col = roots[0]
        frame = p.frame_of(roots)
        if frame is None or frame.schema[col] != pl.String:
            return stripped
        clean = self._clean.setdefault(col, set())
        if frame is not p.batch:  # a dimension: a few hundred values at most
            for v in frame.get_column(col).to_list():
                if v is not None and v not in clean:
                    if v != v.strip():
                        return stripped
                    clean.add(v)
            return expr
        if not p.fast or not self._is_repetitive(p.batch, col):
            return stripped

        def learn(values: list[str]) -> bool:
            if all(v == v.strip() for v in values):
                clean.update(values)  # rows already staged as they are: nothing to redo
                return False
            self._repetitive[col] = False  # values to trim: trim this column row by row
            return True

        known = p.memo_col(
            f"__clean.{col}", pl.when(pl.col(col).is_in(sorted(clean))).then(pl.lit(True))
        )
        p.learner(known.meta.output_name(), col, learn)
        return expr

    def _is_repetitive(self, batch: pl.DataFrame, col: str) -> bool:
        if col not in self._repetitive:
            n = batch.get_column(col).head(_SAMPLE).n_unique()
            self._repetitive[col] = n <= max(min(batch.height, _SAMPLE) // 4, 16)
        return self._repetitive[col]


def number(
    name: str, expr: pl.Expr, label: str, p: Pass, delivered: pl.DataType
) -> tuple[pl.Expr, Problem | None]:
    """``expr`` as a Float64 in its delivered unit, and the problem of rows that are not numbers.

    Non-finite numbers (``inf``, ``-inf``, ``Infinity``, ``nan``, ``1e309`` overflowing to
    infinity) are problems too (check ``non_finite``): they are never kept as values. The parsed
    number is a memo column: the exact pass's mask, reason and value all read it.
    """
    if delivered.is_numeric():  # typed by the reader: nothing to parse, only finiteness to check
        parsed = expr.cast(pl.Float64)
        if not delivered.is_float():
            return parsed, None
        raw = parsed.cast(pl.String)
        return parsed, problem(
            "non_finite", p.cell_label(label), parsed.is_not_null() & ~parsed.is_finite(), raw,
            pl.format("non-finite number '{}' in numeric column '{}'", raw, pl.lit(label)),
        )  # fmt: skip
    if p.fast:
        # a padded or non-numeric cell parses to null here: flagged, and redone exactly
        as_number = expr.cast(pl.String).cast(pl.Float64, strict=False)
        parsed = p.memo_col(f"__num.{name}", as_number)
        return parsed, suspect(expr.is_not_null() & (parsed.is_null() | ~parsed.is_finite()))
    raw = p.memo_col(f"__raw.{name}", expr.cast(pl.String).str.strip_chars())
    parsed = p.memo_col(f"__num.{name}", raw.cast(pl.Float64, strict=False))
    present = raw.is_not_null() & (raw != "")
    non_finite = parsed.is_not_null() & ~parsed.is_finite()
    return parsed, problem(
        pl.when(non_finite).then(pl.lit("non_finite")).otherwise(pl.lit("non_numeric")),
        p.cell_label(label),
        present & (parsed.is_null() | non_finite),
        raw,
        pl.when(non_finite)
        .then(pl.format("non-finite number '{}' in numeric column '{}' (inf and nan are not "
                        "readings; declare the spelling in read.null_values if it means missing)",
                        raw, pl.lit(label)))
        .otherwise(pl.format("non-numeric value '{}' in numeric column '{}'", raw, pl.lit(label))),
    )  # fmt: skip


def integer(expr: pl.Expr, label: str) -> tuple[pl.Expr, Problem]:
    """``expr`` as an Int64; a fractional number is a problem, not silently truncated."""
    raw = expr.cast(pl.String).str.strip_chars()
    parsed = raw.cast(pl.Float64, strict=False)
    bad = raw.is_not_null() & (raw != "") & (parsed.is_null() | (parsed != parsed.round(0)))
    return parsed.cast(pl.Int64, strict=False), problem(
        "non_numeric", label, bad, raw,
        pl.format("not a whole number: '{}' in column '{}'", raw, pl.lit(label)),
    )  # fmt: skip
