"""The fast engine: GX expectations evaluated as Polars expressions, with GX's semantics.

GX validates pandas frames, so its notion of *missing* is pandas': null, and NaN in float columns
(a polars frame converted with ``to_pandas()`` turns both into NaN). Map expectations drop missing
values before judging (``ExpectColumnValuesToNotBeNull`` judges exactly them), ``unexpected_percent``
is over the non-missing values, ``mostly`` compares ``(nonmissing - unexpected) / nonmissing``, and
an expectation with nothing to judge passes vacuously. A ``row_condition`` narrows the rows first;
its ``element_count`` counts only matching rows.

:func:`plan` returns ``None`` for anything not covered here (an expectation type, or a column type
where pandas would behave differently, e.g. a regex on floats, whose ``str()`` polars does not
reproduce); the engine then runs that expectation through GX itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from quality.spec import COLUMN_MAP, Cond, ExpectationSpec

#: Expectation types the fast engine evaluates (others fall back to GX): every map expectation,
#: and these pair, compound and table ones.
FAST_TYPES = COLUMN_MAP | {
    "ExpectColumnPairValuesAToBeGreaterThanB",
    "ExpectCompoundColumnsToBeUnique",
    "ExpectTableRowCountToBeBetween",
    "ExpectColumnToExist",
    "ExpectColumnMeanToBeBetween",
}


@dataclass
class MapPlan:
    """A row-level expectation: ``bad`` is true exactly for GX's unexpected rows."""

    domain: pl.Expr | None  # rows the row_condition keeps (None: all rows)
    missing: pl.Expr | None  # rows GX drops as missing, within the domain (None: not reported)
    bad: pl.Expr  # unexpected rows (already excludes missing and out-of-domain rows)
    values: list[str]  # columns whose values are reported as unexpected values
    value_kind: str = "scalar"  # scalar | pair | dict


@dataclass
class AggPlan:
    """A table-level expectation: ``observed`` is one expression (or a constant)."""

    observed: pl.Expr | None
    constant: Any = None


def _is_float(dtype: pl.DataType) -> bool:
    return dtype.is_float()


def missing_expr(col: str, dtype: pl.DataType) -> pl.Expr:
    """pandas' ``isnull`` after ``to_pandas()``: null, or NaN in a float column."""
    c = pl.col(col)
    return (c.is_null() | c.is_nan()) if _is_float(dtype) else c.is_null()


def cond_expr(where: tuple[Cond, ...], schema: pl.Schema) -> pl.Expr | None:
    """The row filter as a polars expression that is never null (null compares false, as pandas)."""
    out: pl.Expr | None = None
    for c in where:
        col = pl.col(c.column)
        dtype = schema[c.column]
        if c.op == "is_null":
            e = missing_expr(c.column, dtype)
        elif c.op == "is_not_null":
            e = ~missing_expr(c.column, dtype)
        elif c.op == "==":
            e = (col == c.value).fill_null(False)
        elif c.op == "!=":
            # pandas: NaN != x is True
            e = (col != c.value).fill_null(True)
        elif c.op == "in":
            e = col.is_in(list(c.value)).fill_null(False)
        else:  # not_in
            e = (~col.is_in(list(c.value))).fill_null(True)
        out = e if out is None else out & e
    return out


def _and(domain: pl.Expr | None, e: pl.Expr) -> pl.Expr:
    return e if domain is None else (domain & e)


def _lit_like(v: Any, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime) and isinstance(v, dt.datetime):
        if v.tzinfo is not None and dtype.time_zone is not None:
            v = v.astimezone(dt.UTC)
        return pl.lit(v).cast(dtype)
    return pl.lit(v)


def _range_ok(x: pl.Expr, lo: Any, hi: Any, strict_min: Any, strict_max: Any) -> pl.Expr:
    ok = pl.lit(True)
    if lo is not None:
        ok = ok & ((x > lo) if strict_min else (x >= lo))
    if hi is not None:
        ok = ok & ((x < hi) if strict_max else (x <= hi))
    return ok


def plan(spec: ExpectationSpec, schema: pl.Schema) -> MapPlan | AggPlan | None:
    """How to run ``spec`` on a frame of ``schema`` with polars, or None to leave it to GX."""
    t, k = spec.type, spec.kwargs
    if t not in FAST_TYPES:
        return None
    if t == "ExpectColumnToExist":
        return AggPlan(observed=None, constant=k["column"] in schema)
    if t == "ExpectTableRowCountToBeBetween":
        return AggPlan(observed=pl.len())
    for c in spec.columns + [c.column for c in spec.where]:
        if c not in schema:
            return None
    domain = cond_expr(spec.where, schema) if spec.where else None

    if t == "ExpectColumnMeanToBeBetween":
        col, dtype = k["column"], schema[k["column"]]
        if not dtype.is_numeric() or spec.where:
            return None
        x = pl.col(col).cast(pl.Float64)
        x = x.fill_nan(None)
        return AggPlan(observed=x.mean())

    if t == "ExpectColumnPairValuesAToBeGreaterThanB":
        a, b = k["column_A"], k["column_B"]
        da, db = schema[a], schema[b]
        comparable = (da.is_numeric() and db.is_numeric()) or (
            isinstance(da, pl.Datetime) and isinstance(db, pl.Datetime)
            and (da.time_zone is None) == (db.time_zone is None)
        )  # fmt: skip
        if not comparable:
            return None
        ma, mb = missing_expr(a, da), missing_expr(b, db)
        rule = k.get("ignore_row_if", "both_values_are_missing")
        miss = {"both_values_are_missing": ma & mb, "either_value_is_missing": ma | mb,
                "neither": pl.lit(False)}[rule]  # fmt: skip
        # pandas compares NaN/NaT as False: those rows are unexpected unless ignored.
        gt = (pl.col(a) >= pl.col(b)) if k.get("or_equal") else (pl.col(a) > pl.col(b))
        ok = (gt & ~ma & ~mb).fill_null(False)
        return MapPlan(domain, _and(domain, miss), _and(domain, ~miss & ~ok), [a, b], "pair")

    if t == "ExpectCompoundColumnsToBeUnique":
        cols = list(k["column_list"])
        rule = k.get("ignore_row_if", "all_values_are_missing")
        misses = [missing_expr(c, schema[c]) for c in cols]
        if rule == "all_values_are_missing":
            miss = pl.all_horizontal(misses)
        elif rule == "any_value_is_missing":
            miss = pl.any_horizontal(misses)
        else:
            miss = pl.lit(False)
        # pandas hashes NaN and None alike; make polars do so too. Only kept rows compete.
        keys = [pl.col(c).fill_nan(None) if _is_float(schema[c]) else pl.col(c) for c in cols]
        keep = _and(domain, ~miss)
        dup = pl.struct([keep.alias("__keep"), *keys]).is_duplicated()
        return MapPlan(domain, _and(domain, miss), keep & dup, cols, "dict")

    col = k["column"]
    dtype = schema[col]
    x = pl.col(col)
    miss = missing_expr(col, dtype)

    if t == "ExpectColumnValuesToNotBeNull":
        # GX reports no missing_count here: the missing values are the unexpected ones.
        return MapPlan(domain, None, _and(domain, miss), [col])

    keep = _and(domain, ~miss)
    if t == "ExpectColumnValuesToBeBetween":
        lo, hi = k.get("min_value"), k.get("max_value")
        if dtype.is_numeric() and not isinstance(dtype, pl.Decimal):
            if isinstance(lo, str) or isinstance(hi, str):
                return None
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            if not all(v is None or (isinstance(v, dt.datetime) and v.tzinfo) for v in (lo, hi)):
                return None
            lo = None if lo is None else _lit_like(lo, dtype)
            hi = None if hi is None else _lit_like(hi, dtype)
        else:
            return None
        ok = _range_ok(x, lo, hi, k.get("strict_min"), k.get("strict_max"))
        return MapPlan(domain, _and(domain, miss), keep & ~ok.fill_null(False), [col])

    if t in ("ExpectColumnValuesToBeInSet", "ExpectColumnValuesToNotBeInSet"):
        vs = k.get("value_set")
        if vs is None:
            return MapPlan(domain, _and(domain, miss), pl.repeat(False, pl.len()), [col])
        if not (dtype == pl.String or dtype.is_integer() or dtype.is_float()):
            return None
        if any(v is None or isinstance(v, bool) for v in vs):
            return None
        if dtype == pl.String and not all(isinstance(v, str) for v in vs):
            return None
        if dtype != pl.String and not all(isinstance(v, (int, float)) for v in vs):
            return None
        if dtype.is_integer() and any(isinstance(v, float) for v in vs):
            return None
        vals = [v for v in vs if not (isinstance(v, float) and v != v)]
        sdtype = pl.Float64 if dtype.is_float() else dtype
        member = x.is_in(pl.lit(pl.Series(vals, dtype=sdtype)).implode())
        bad = ~member if t == "ExpectColumnValuesToBeInSet" else member
        return MapPlan(domain, _and(domain, miss), keep & bad.fill_null(False), [col])

    if t in ("ExpectColumnValuesToMatchRegex", "ExpectColumnValuesToNotMatchRegex"):
        pattern = k["regex"]
        try:
            pl.select(pl.lit("").str.contains(pattern))
        except Exception:  # noqa: BLE001 - a pattern the Rust engine refuses goes to GX
            return None
        if "$" in pattern and not pattern.endswith(r"\Z"):
            # Python's `$` also matches before a trailing newline; emulate it exactly.
            pattern = _python_dollar(pattern)
            if pattern is None:
                return None
        if dtype == pl.String:
            s = x
        elif dtype.is_integer():
            # pandas holds an int column with nulls as float64: str() gives "1.0".
            s = pl.when(x.null_count() > 0).then(x.cast(pl.Float64).cast(pl.String)).otherwise(
                x.cast(pl.String)
            )
        else:
            return None
        m = s.str.contains(pattern)
        bad = ~m if t == "ExpectColumnValuesToMatchRegex" else m
        return MapPlan(domain, _and(domain, miss), keep & bad.fill_null(False), [col])

    if t == "ExpectColumnValuesToBeUnique":
        if isinstance(dtype, (pl.List, pl.Struct, pl.Array, pl.Object)):
            return None
        key = x.fill_nan(None) if _is_float(dtype) else x
        if domain is None:
            # Sort-based: a sorted copy of one column and a set of the duplicated values costs
            # far less memory than the row-sized hash table of is_duplicated().
            srt = key.sort()
            dup_values = srt.filter(srt == srt.shift(1)).unique()
            dup = key.is_in(dup_values.implode()).fill_null(False)
        else:
            dup = pl.struct([keep.alias("__keep"), key]).is_duplicated()
        return MapPlan(domain, _and(domain, miss), keep & dup, [col])

    if t == "ExpectColumnValueLengthsToBeBetween":
        if dtype != pl.String:
            return None
        lo, hi = k.get("min_value"), k.get("max_value")
        n = x.str.len_chars()
        ok = _range_ok(n, lo, hi, k.get("strict_min"), k.get("strict_max"))
        return MapPlan(domain, _and(domain, miss), keep & ~ok.fill_null(False), [col])
    return None


def _python_dollar(pattern: str) -> str | None:
    """Rewrite an unescaped trailing ``$`` (outside classes) as Python means it: ``(?:\\n?\\z)``."""
    if not pattern.endswith("$") or pattern.endswith(r"\$") or pattern.count("$") != 1:
        return None
    if "(?m" in pattern:
        return None
    return pattern[:-1] + r"(?:\n?\z)"


def agg_success(spec: ExpectationSpec, observed: Any) -> bool:
    """GX's ``_validate_metric_value_between``: None/NaN observed fails."""
    if spec.type == "ExpectColumnToExist":
        return bool(observed)
    if observed is None or (isinstance(observed, float) and observed != observed):
        return False
    k = spec.kwargs
    lo, hi = k.get("min_value"), k.get("max_value")
    ok = True
    if lo is not None:
        ok &= observed > lo if k.get("strict_min") else observed >= lo
    if hi is not None:
        ok &= observed < hi if k.get("strict_max") else observed <= hi
    return bool(ok)


def mostly_success(considered: int, unexpected: int, mostly: float) -> bool:
    """GX's ``_mostly_success`` with its vacuous-truth rule."""
    if considered == 0:
        return True
    return (float(considered) - float(unexpected)) / float(considered) >= mostly



#: Expectations whose plan is row by row (``bad``, ``domain``, ``missing`` look at one row) or a
#: row count: their counts are exact sums over any chunking, so :func:`streamable` plans can run
#: on the streaming engine with the same result. Uniqueness looks at the whole column, a mean's
#: float sum depends on its order, and a regex on an integer column at the column's null count.
STREAMABLE_TYPES = frozenset({
    "ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeBetween",
    "ExpectColumnValuesToBeInSet", "ExpectColumnValuesToNotBeInSet",
    "ExpectColumnValueLengthsToBeBetween", "ExpectColumnPairValuesAToBeGreaterThanB",
    "ExpectColumnValuesToMatchRegex", "ExpectColumnValuesToNotMatchRegex",
    "ExpectTableRowCountToBeBetween", "ExpectColumnToExist",
})  # fmt: skip


def streamable(spec: ExpectationSpec, planned: MapPlan | AggPlan | None, schema: pl.Schema) -> bool:
    """Whether ``planned`` (``plan(spec, schema)``) gives the same result in bounded chunks."""
    if planned is None or spec.type not in STREAMABLE_TYPES:
        return False
    if "Regex" in spec.type:
        return schema[spec.kwargs["column"]] == pl.String
    return True
