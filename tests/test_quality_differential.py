"""The fast (polars) engine against GX's own pandas engine on edge-case data.

Both engines must agree exactly on success, element/missing/unexpected counts and on which rows
failed. The data is full of what makes the two worlds differ: null versus NaN, -0.0, empty strings,
mixed case, trailing newlines before ``$``, tz-aware datetimes, ints with nulls (floats in pandas),
and ``mostly`` exactly at the success boundary.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import polars as pl
import pytest

from quality.engine import run_suite
from quality.spec import Cond, ExpectationSpec, Suite, validate_suite
from quality.suites import SUITES, default_schema, suite_for

UTC = dt.UTC


def edge_frame(n: int = 240, seed: int = 7) -> pl.DataFrame:
    rnd = random.Random(seed)
    nan = float("nan")

    def pick(xs: list) -> object:
        return xs[rnd.randrange(len(xs))]

    t0 = dt.datetime(2024, 3, 31, 0, 30, tzinfo=UTC)
    rows = []
    for i in range(n):
        rows.append(
            {
                "f": pick([None, nan, -0.0, 0.0, 1.0, 173.15, 173.14999, 1273.15, 1e8, -5.0, 2000.0,
                           float("inf"), 50.5]),
                "i": pick([None, 0, 1, 2, 3, -1, 10, 99]),
                "i2": rnd.randrange(-3, 12),
                "s": pick([None, "", "Good", "good", "GOOD", "Uncertain", "Bad", " Good", "ä",
                           "abc\n", "abc", "x" * 30]),
                "u": pick(["K", "Pa", None, "k", ""]),
                "ts": pick([None, t0, t0 + dt.timedelta(hours=1), t0 - dt.timedelta(days=400),
                            dt.datetime(2030, 1, 1, tzinfo=UTC)]),
                "a": pick([None, nan, 1.0, 2.0, 3.0, -0.0]),
                "b": pick([None, nan, 1.0, 2.0, 0.0]),
                "ta": pick([None, t0, t0 + dt.timedelta(seconds=1)]),
                "tb": pick([None, t0, t0 + dt.timedelta(seconds=1)]),
                "k1": pick([None, "a", "b"]),
                "k2": pick([None, 1.0, nan, 2.0]),
                "uid": pick([None, nan, -0.0, 0.0] + [float(j) for j in range(200)]) if i % 5 else float(i),
                "sid": pick([None, ""]) if i % 7 == 0 else f"id-{rnd.randrange(400)}",
                "hex": pick([None, "0" * 64, "A" * 64, "g" * 64, "ab" * 32, "ab" * 31, ""]),
            }
        )
    schema = {
        "f": pl.Float64, "i": pl.Int64, "i2": pl.Int64, "s": pl.String, "u": pl.String,
        "ts": pl.Datetime("us", "UTC"), "a": pl.Float64, "b": pl.Float64,
        "ta": pl.Datetime("us", "UTC"), "tb": pl.Datetime("us", "UTC"), "k1": pl.String,
        "k2": pl.Float64, "uid": pl.Float64, "sid": pl.String, "hex": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def E(name: str, type_: str, severity: str = "error", where: tuple = (), **kw) -> ExpectationSpec:  # noqa: N802
    return ExpectationSpec(name=name, type=type_, kwargs=kw, severity=severity, where=where)  # type: ignore[arg-type]


def _boundary_mostly(df: pl.DataFrame) -> float:
    """The exact success ratio of 's in {Good, Bad}' so that mostly sits on the boundary."""
    s = df["s"]
    considered = s.is_not_null().sum()
    unexpected = (s.is_not_null() & ~s.is_in(["Good", "Bad"])).sum()
    return (float(considered) - float(unexpected)) / float(considered)


def edge_suite(df: pl.DataFrame) -> Suite:
    m = _boundary_mostly(df)
    t0 = dt.datetime(2024, 3, 31, 0, 30, tzinfo=UTC)
    shanghai = dt.timezone(dt.timedelta(hours=8))
    specs = [
        E("rows", "ExpectTableRowCountToBeBetween", min_value=1, max_value=10_000),
        E("rows_too_few", "ExpectTableRowCountToBeBetween", min_value=10_000),
        E("exists", "ExpectColumnToExist", column="f"),
        E("exists_not", "ExpectColumnToExist", column="nope"),
        E("f_nn", "ExpectColumnValuesToNotBeNull", column="f"),
        E("f_nn_mostly", "ExpectColumnValuesToNotBeNull", column="f", mostly=0.5),
        E("s_nn", "ExpectColumnValuesToNotBeNull", column="s"),
        E("ts_nn", "ExpectColumnValuesToNotBeNull", column="ts"),
        E("i_nn_where", "ExpectColumnValuesToNotBeNull", column="i", where=(Cond("u", "is_null"),)),
        E("f_between", "ExpectColumnValuesToBeBetween", column="f", min_value=173.15, max_value=1273.15),
        E("f_between_strict", "ExpectColumnValuesToBeBetween", column="f", min_value=173.15,
          max_value=1273.15, strict_min=True, strict_max=True),
        E("f_min_only", "ExpectColumnValuesToBeBetween", column="f", min_value=0),
        E("f_max_only", "ExpectColumnValuesToBeBetween", column="f", max_value=0, strict_max=True),
        E("f_K", "ExpectColumnValuesToBeBetween", column="f", min_value=173.15, max_value=1273.15,
          where=(Cond("u", "==", "K"),)),
        E("f_Pa", "ExpectColumnValuesToBeBetween", column="f", min_value=0, max_value=1e8,
          where=(Cond("u", "==", "Pa"),), mostly=0.6),
        E("f_not_K", "ExpectColumnValuesToBeBetween", column="f", min_value=-10, max_value=10,
          where=(Cond("u", "!=", "K"),)),
        E("f_in_units", "ExpectColumnValuesToBeBetween", column="f", min_value=-10, max_value=10,
          where=(Cond("u", "in", ["K", "Pa"]), Cond("s", "is_not_null"))),
        E("i_between", "ExpectColumnValuesToBeBetween", column="i", min_value=0, max_value=3),
        E("i2_between", "ExpectColumnValuesToBeBetween", column="i2", min_value=0, max_value=9,
          mostly=0.7),
        E("ts_between", "ExpectColumnValuesToBeBetween", column="ts", min_value=t0,
          max_value=dt.datetime(2029, 1, 1, tzinfo=UTC)),
        E("ts_between_tz", "ExpectColumnValuesToBeBetween", column="ts",
          min_value=dt.datetime(2024, 3, 31, 8, 30, tzinfo=shanghai), strict_min=True),
        E("s_in_set", "ExpectColumnValuesToBeInSet", column="s", value_set=["Good", "Bad"]),
        E("s_in_set_mostly_edge", "ExpectColumnValuesToBeInSet", column="s",
          value_set=["Good", "Bad"], mostly=m),
        E("s_in_set_mostly_above", "ExpectColumnValuesToBeInSet", column="s",
          value_set=["Good", "Bad"], mostly=min(1.0, m + 1e-9)),
        E("s_in_set_warn", "ExpectColumnValuesToBeInSet", "warn", column="s",
          value_set=["Good", "good", "", "Uncertain"]),
        E("i_in_set", "ExpectColumnValuesToBeInSet", column="i", value_set=[0, 1, 2]),
        E("f_in_set", "ExpectColumnValuesToBeInSet", column="f", value_set=[0, 1.0, 50.5]),
        E("s_not_in_set", "ExpectColumnValuesToNotBeInSet", column="s", value_set=["", "Bad"]),
        E("hex_regex", "ExpectColumnValuesToMatchRegex", column="hex", regex=r"^[0-9a-f]{64}$"),
        E("s_regex_dollar", "ExpectColumnValuesToMatchRegex", column="s", regex=r"^abc$"),
        E("s_regex_search", "ExpectColumnValuesToMatchRegex", column="s", regex="oo"),
        E("s_not_regex", "ExpectColumnValuesToNotMatchRegex", column="s", regex="(?i)good"),
        E("i_regex", "ExpectColumnValuesToMatchRegex", column="i", regex=r"^[0-2]\.0$"),
        E("i2_regex", "ExpectColumnValuesToMatchRegex", column="i2", regex=r"^\d$"),
        E("f_regex_fallback", "ExpectColumnValuesToMatchRegex", column="f", regex=r"\.5$"),
        E("s_lookahead_fallback", "ExpectColumnValuesToMatchRegex", column="s", regex=r"^(?!Good)"),
        E("uid_unique", "ExpectColumnValuesToBeUnique", column="uid"),
        E("sid_unique", "ExpectColumnValuesToBeUnique", column="sid"),
        E("i2_unique_where", "ExpectColumnValuesToBeUnique", column="i2",
          where=(Cond("u", "==", "K"),)),
        E("s_len", "ExpectColumnValueLengthsToBeBetween", column="s", min_value=1, max_value=5),
        E("s_len_strict", "ExpectColumnValueLengthsToBeBetween", column="s", min_value=1,
          strict_min=True),
        E("a_gt_b", "ExpectColumnPairValuesAToBeGreaterThanB", column_A="a", column_B="b"),
        E("a_ge_b_either", "ExpectColumnPairValuesAToBeGreaterThanB", column_A="a", column_B="b",
          or_equal=True, ignore_row_if="either_value_is_missing"),
        E("a_gt_b_neither", "ExpectColumnPairValuesAToBeGreaterThanB", column_A="a",
          column_B="b", ignore_row_if="neither", mostly=0.2),
        E("ta_gt_tb", "ExpectColumnPairValuesAToBeGreaterThanB", column_A="ta", column_B="tb",
          ignore_row_if="either_value_is_missing"),
        E("compound", "ExpectCompoundColumnsToBeUnique", column_list=["k1", "k2"]),
        E("compound_any", "ExpectCompoundColumnsToBeUnique", column_list=["k1", "k2", "i"],
          ignore_row_if="any_value_is_missing"),
        E("f_mean", "ExpectColumnMeanToBeBetween", "warn", column="i", min_value=0, max_value=50),
        E("i2_mean", "ExpectColumnMeanToBeBetween", column="i2", min_value=100),
    ]
    return validate_suite(Suite(name="edge_suite", table="edge", expectations=tuple(specs)),
                          df.schema)  # fmt: skip


def _rows(res, name: str) -> set[int]:  # noqa: ANN001
    if res.row_failures is None:
        return set()
    rf = res.row_failures.filter(pl.col("failed").list.contains(name))
    return set(rf["_idx"].to_list())


def _compare(df: pl.DataFrame, suite: Suite) -> None:
    fast = run_suite(df, suite, engine="fast")
    gx = run_suite(df, suite, engine="gx")
    assert [r.name for r in fast.results] == [r.name for r in gx.results]
    assert all(r.engine == "gx" for r in gx.results)
    problems = []
    for f, g in zip(fast.results, gx.results, strict=True):
        assert g.exception is None, (g.name, g.exception)
        got = (f.success, f.element_count, f.missing_count, f.unexpected_count)
        want = (g.success, g.element_count, g.missing_count, g.unexpected_count)
        if got != want:
            problems.append(f"{f.name}: fast {got} != gx {want}")
        if f.unexpected_percent is None or g.unexpected_percent is None:
            if f.unexpected_percent != g.unexpected_percent:
                problems.append(f"{f.name}: pct {f.unexpected_percent} != {g.unexpected_percent}")
        elif not math.isclose(f.unexpected_percent, g.unexpected_percent, rel_tol=1e-12):
            problems.append(f"{f.name}: pct {f.unexpected_percent} != {g.unexpected_percent}")
        if f.row_level and _rows(fast, f.name) != _rows(gx, g.name):
            problems.append(f"{f.name}: rows {_rows(fast, f.name) ^ _rows(gx, g.name)} differ")
        if not f.row_level and f.observed_value != g.observed_value:
            close = isinstance(f.observed_value, float) and isinstance(g.observed_value, float)
            if not (close and math.isclose(f.observed_value, g.observed_value, rel_tol=1e-9)):
                problems.append(f"{f.name}: observed {f.observed_value} != {g.observed_value}")
    assert not problems, "\n".join(problems)
    assert fast.success == gx.success


def test_edge_suite_same_verdicts_in_both_engines() -> None:
    df = edge_frame()
    suite = edge_suite(df)
    fast = run_suite(df, suite, engine="fast")
    # Everything runs in polars but a regex on floats and a look-ahead: those fall back to GX.
    engines = {r.name: r.engine for r in fast.results}
    fallback = {"f_regex_fallback", "s_lookahead_fallback"}
    assert {n for n, e in engines.items() if e == "gx"} == fallback
    assert {e for n, e in engines.items() if n not in fallback} == {"fast"}
    # The boundary case: success exactly at mostly, failure just above it.
    by = {r.name: r for r in fast.results}
    assert by["s_in_set_mostly_edge"].success and not by["s_in_set_mostly_above"].success
    _compare(df, suite)


def test_edge_suite_on_empty_frame() -> None:
    df = edge_frame().head(0)
    _compare(df, edge_suite(edge_frame()))


@pytest.mark.parametrize("table", SUITES)
def test_shipped_suites_agree_on_random_rows(table: str) -> None:
    schema = default_schema(table)
    df = random_frame(schema, n=120, seed=len(table))
    _compare(df, suite_for(table, schema=schema))


def random_frame(schema: pl.Schema, *, n: int, seed: int) -> pl.DataFrame:
    """Rows of ``schema`` with nulls, NaN, negatives, duplicates, and near-miss strings."""
    rnd = random.Random(seed)
    t0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
    strings = [None, "", "K", "Pa", "Good", "good", "pass", "fail", "PASS", "train", "val", "x",
               "a" * 64, "0123456789abcdef" * 4, "work_order", "lot", "manual"]  # fmt: skip
    cols: dict[str, list] = {}
    for name, dtype in schema.items():
        if dtype == pl.String:
            cols[name] = [rnd.choice(strings) for _ in range(n)]
        elif dtype.is_float():
            cols[name] = [rnd.choice([None, float("nan"), -1.0, 0.0, 300.0, 2e8, 5.5]) for _ in range(n)]
        elif dtype.is_integer():
            cols[name] = [rnd.choice([None, -1, 0, 1, 2, 10]) for _ in range(n)]
        elif isinstance(dtype, pl.Datetime):
            cols[name] = [rnd.choice([None, t0, t0 + dt.timedelta(hours=1)]) for _ in range(n)]
        else:
            cols[name] = [None] * n
    return pl.DataFrame(cols, schema=schema)
