"""Short constructors for suite modules: each returns an :class:`ExpectationSpec`."""

from __future__ import annotations

from typing import Any

from quality.spec import Cond, ExpectationSpec, Severity

#: Row-level expectations fail (and, at ERROR severity, block the corpora downstream) only when more
#: than 1% of rows break them; the breaking rows are quarantined either way. Sporadic bad rows are
#: the normal state of plant data, a systemic problem is not. Override per table, site or source
#: with ``mostly`` in sources.yaml.
DEFAULT_MOSTLY = 0.99
#: ... and only when at least this many rows break them: a percentage of a four-row table is no
#: signal (one bad row is 25%). Override with ``min_count`` in sources.yaml.
DEFAULT_MIN_COUNT = 3


def _spec(name: str, type_: str, severity: Severity, where: tuple[Cond, ...], desc: str,
          **kwargs: Any) -> ExpectationSpec:  # fmt: skip
    # Thresholded (``mostly``) expectations get the minimum count; strict ones (unique) do not.
    min_count = DEFAULT_MIN_COUNT if kwargs.get("mostly", 1.0) < 1.0 else 1
    return ExpectationSpec(
        min_count=min_count,
        name=name,
        type=type_,
        kwargs={k: v for k, v in kwargs.items() if v is not None},
        severity=severity,
        where=where,
        description=desc,
    )


def exists(name: str, column: str, *, severity: Severity = "error", desc: str = "") -> ExpectationSpec:
    return _spec(name, "ExpectColumnToExist", severity, (), desc, column=column)


def not_null(name: str, column: str, *, severity: Severity = "error", mostly: float | None = None,
             where: tuple[Cond, ...] = (), desc: str = "") -> ExpectationSpec:  # fmt: skip
    return _spec(name, "ExpectColumnValuesToNotBeNull", severity, where, desc or
                 f"{column} is present", column=column, mostly=DEFAULT_MOSTLY if mostly is None else mostly)  # fmt: skip


def between(name: str, column: str, min_value: Any = None, max_value: Any = None, *,
            strict_min: bool | None = None, strict_max: bool | None = None,
            severity: Severity = "error", mostly: float | None = None,
            where: tuple[Cond, ...] = (), desc: str = "") -> ExpectationSpec:  # fmt: skip
    return _spec(name, "ExpectColumnValuesToBeBetween", severity, where,
                 desc or f"{column} within [{min_value}, {max_value}]", column=column,
                 min_value=min_value, max_value=max_value, strict_min=strict_min,
                 strict_max=strict_max, mostly=DEFAULT_MOSTLY if mostly is None else mostly)  # fmt: skip


def in_set(name: str, column: str, value_set: list[Any], *, severity: Severity = "error",
           mostly: float | None = None, where: tuple[Cond, ...] = (),
           desc: str = "") -> ExpectationSpec:  # fmt: skip
    return _spec(name, "ExpectColumnValuesToBeInSet", severity, where,
                 desc or f"{column} is one of {value_set}", column=column,
                 value_set=list(value_set), mostly=DEFAULT_MOSTLY if mostly is None else mostly)  # fmt: skip


def not_in_set(name: str, column: str, value_set: list[Any], *, severity: Severity = "error",
               mostly: float | None = None, desc: str = "") -> ExpectationSpec:  # fmt: skip
    return _spec(name, "ExpectColumnValuesToNotBeInSet", severity, (),
                 desc or f"{column} is none of {value_set}", column=column,
                 value_set=list(value_set), mostly=DEFAULT_MOSTLY if mostly is None else mostly)  # fmt: skip


def regex(name: str, column: str, pattern: str, *, severity: Severity = "error",
          mostly: float | None = None, desc: str = "") -> ExpectationSpec:  # fmt: skip
    return _spec(name, "ExpectColumnValuesToMatchRegex", severity, (),
                 desc or f"{column} matches {pattern}", column=column, regex=pattern,
                 mostly=DEFAULT_MOSTLY if mostly is None else mostly)  # fmt: skip


def unique(name: str, column: str, *, severity: Severity = "error", desc: str = "") -> ExpectationSpec:
    return _spec(name, "ExpectColumnValuesToBeUnique", severity, (), desc or f"{column} is unique",
                 column=column)  # fmt: skip


def compound_unique(name: str, columns: list[str], *, severity: Severity = "error",
                    desc: str = "") -> ExpectationSpec:  # fmt: skip
    return _spec(name, "ExpectCompoundColumnsToBeUnique", severity, (),
                 desc or f"({', '.join(columns)}) is unique", column_list=list(columns))  # fmt: skip


def pair_greater(name: str, column_a: str, column_b: str, *, or_equal: bool = False,
                 ignore_row_if: str = "either_value_is_missing", severity: Severity = "error",
                 mostly: float | None = None, desc: str = "") -> ExpectationSpec:  # fmt: skip
    op = ">=" if or_equal else ">"
    return _spec(name, "ExpectColumnPairValuesAToBeGreaterThanB", severity, (),
                 desc or f"{column_a} {op} {column_b}", column_A=column_a, column_B=column_b,
                 or_equal=or_equal or None, ignore_row_if=ignore_row_if, mostly=DEFAULT_MOSTLY if mostly is None else mostly)  # fmt: skip


def lengths(name: str, column: str, min_value: int | None = None, max_value: int | None = None, *,
            severity: Severity = "error", mostly: float | None = None,
            desc: str = "") -> ExpectationSpec:  # fmt: skip
    return _spec(name, "ExpectColumnValueLengthsToBeBetween", severity, (),
                 desc or f"length of {column} within [{min_value}, {max_value}]", column=column,
                 min_value=min_value, max_value=max_value, mostly=DEFAULT_MOSTLY if mostly is None else mostly)  # fmt: skip


def row_count(name: str, min_value: int | None = None, max_value: int | None = None, *,
              severity: Severity = "error", desc: str = "") -> ExpectationSpec:  # fmt: skip
    return _spec(name, "ExpectTableRowCountToBeBetween", severity, (),
                 desc or f"row count within [{min_value}, {max_value}]", min_value=min_value,
                 max_value=max_value)  # fmt: skip


def mean_between(name: str, column: str, min_value: float | None = None,
                 max_value: float | None = None, *, severity: Severity = "warn",
                 desc: str = "") -> ExpectationSpec:  # fmt: skip
    return _spec(name, "ExpectColumnMeanToBeBetween", severity, (),
                 desc or f"mean of {column} within [{min_value}, {max_value}]", column=column,
                 min_value=min_value, max_value=max_value)  # fmt: skip
