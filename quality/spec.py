"""Suite and expectation specifications, free of any Great Expectations import.

An :class:`ExpectationSpec` names one GX 1.x expectation class (``"ExpectColumnValuesToNotBeNull"``),
its keyword arguments, a stable short name (``"value_not_null"``), a severity and an optional row
filter. A :class:`Suite` is the ordered list of them for one table. Specs are plain data so that
``import quality`` stays cheap; :meth:`ExpectationSpec.to_gx` builds the real GX object on demand.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import polars as pl

    from corpusmill.config import ExpectationOverride

Severity = Literal["error", "warn"]


class SuiteError(ValueError):
    """A suite (or an override of it) that cannot run; raised before any data is read."""


#: Map expectations (one verdict per row) versus aggregate ones (one verdict per table).
COLUMN_MAP = frozenset(
    {
        "ExpectColumnValuesToNotBeNull",
        "ExpectColumnValuesToBeBetween",
        "ExpectColumnValuesToBeInSet",
        "ExpectColumnValuesToNotBeInSet",
        "ExpectColumnValuesToMatchRegex",
        "ExpectColumnValuesToNotMatchRegex",
        "ExpectColumnValuesToBeUnique",
        "ExpectColumnValueLengthsToBeBetween",
    }
)
PAIR_MAP = frozenset({"ExpectColumnPairValuesAToBeGreaterThanB", "ExpectColumnPairValuesToBeEqual"})
MULTI_MAP = frozenset({"ExpectCompoundColumnsToBeUnique", "ExpectSelectColumnValuesToBeUniqueWithinRecord"})
MAP_TYPES = COLUMN_MAP | PAIR_MAP | MULTI_MAP

#: Which override fields make sense for which expectation type.
_BOUNDED = frozenset(
    {
        "ExpectColumnValuesToBeBetween",
        "ExpectColumnValueLengthsToBeBetween",
        "ExpectTableRowCountToBeBetween",
        "ExpectColumnMeanToBeBetween",
        "ExpectColumnMedianToBeBetween",
        "ExpectColumnMinToBeBetween",
        "ExpectColumnMaxToBeBetween",
        "ExpectColumnSumToBeBetween",
        "ExpectColumnStdevToBeBetween",
        "ExpectColumnProportionOfNonNullValuesToBeBetween",
        "ExpectColumnUniqueValueCountToBeBetween",
    }
)
_SETS = frozenset(
    {
        "ExpectColumnValuesToBeInSet",
        "ExpectColumnValuesToNotBeInSet",
        "ExpectColumnDistinctValuesToBeInSet",
        "ExpectColumnDistinctValuesToContainSet",
        "ExpectColumnDistinctValuesToEqualSet",
    }
)
_REGEX = frozenset({"ExpectColumnValuesToMatchRegex", "ExpectColumnValuesToNotMatchRegex"})

#: Row-filter operators (a subset of GX 1.x structured row conditions).
CondOp = Literal["==", "!=", "in", "not_in", "is_null", "is_not_null"]


@dataclass(frozen=True)
class Cond:
    """``column <op> value``; several in :attr:`ExpectationSpec.where` are ANDed."""

    column: str
    op: CondOp
    value: Any = None

    def describe(self) -> str:
        if self.op in ("is_null", "is_not_null"):
            return f"{self.column} {self.op.replace('_', ' ')}"
        return f"{self.column} {self.op} {self.value!r}"


def snake(type_name: str) -> str:
    """``ExpectColumnValuesToNotBeNull`` -> ``expect_column_values_to_not_be_null``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type_name).lower()


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a suite.

    Parameters
    ----------
    name
        Stable short name, unique in its suite; overrides and quarantine reasons use it.
    type
        The GX 1.x expectation class name, e.g. ``"ExpectColumnValuesToBeBetween"``.
    kwargs
        GX keyword arguments (``column``, ``min_value``, ``mostly`` ...), without ``row_condition``.
    severity
        ``"error"`` fails the asset check (and quarantines rows, for map expectations);
        ``"warn"`` only reports.
    where
        Evaluate only rows matching all these conditions (GX ``row_condition``).
    min_count
        Row-level only: the expectation fails only when at least this many rows break it (and more
        than ``1 - mostly`` of them do), so one bad row in a four-row table does not block. The
        breaking rows are quarantined either way.
    """

    name: str
    type: str
    kwargs: Mapping[str, Any]
    severity: Severity = "error"
    enabled: bool = True
    where: tuple[Cond, ...] = ()
    description: str = ""
    min_count: int = 1

    @property
    def expectation_type(self) -> str:
        return snake(self.type)

    @property
    def row_level(self) -> bool:
        return self.type in MAP_TYPES

    @property
    def column(self) -> str | None:
        k = self.kwargs
        if "column" in k:
            return k["column"]
        if "column_A" in k:
            return k["column_A"]
        if "column_list" in k:
            return k["column_list"][0]
        return None

    @property
    def columns(self) -> list[str]:
        k = self.kwargs
        cols: list[str] = []
        if "column" in k:
            cols.append(k["column"])
        if "column_A" in k:
            cols += [k["column_A"], k["column_B"]]
        if "column_list" in k:
            cols += list(k["column_list"])
        return cols

    @property
    def mostly(self) -> float:
        return float(self.kwargs.get("mostly", 1.0))

    def gx_kwargs(self) -> dict[str, Any]:
        """Keyword arguments as stored in GX results (``row_condition`` in its JSON form)."""
        out = dict(self.kwargs)
        if self.where:
            out["row_condition"] = condition_json(self.where)
        return out

    def to_gx(self) -> Any:
        """The GX expectation object (imports GX)."""
        from quality._gx import gx_module

        gx = gx_module()
        kwargs = dict(self.kwargs)
        if self.where:
            kwargs["row_condition"] = gx_condition(self.where)
        cls = getattr(gx.expectations, self.type)
        return cls(
            **kwargs,
            severity="critical" if self.severity == "error" else "warning",
            meta={"name": self.name, "row_level": self.row_level},
        )


def condition_json(where: Sequence[Cond]) -> dict[str, Any]:
    """GX 1.x row-condition JSON for an AND of conditions."""

    def one(c: Cond) -> dict[str, Any]:
        if c.op == "is_null":
            return {"type": "nullity", "column": {"name": c.column}, "is_null": True}
        if c.op == "is_not_null":
            return {"type": "nullity", "column": {"name": c.column}, "is_null": False}
        op = {"in": "IN", "not_in": "NOT_IN"}.get(c.op, c.op)
        return {"type": "comparison", "column": {"name": c.column}, "operator": op,
                "parameter": c.value}  # fmt: skip

    if len(where) == 1:
        return one(where[0])
    return {"type": "and", "conditions": [one(c) for c in where]}


def gx_condition(where: Sequence[Cond]) -> Any:
    from quality._gx import gx_module

    gx_module()  # configured (analytics off) before any of its submodules loads
    from great_expectations.expectations.row_conditions import Column

    out = None
    for c in where:
        col = Column(c.column)
        cond = {
            "==": lambda: col == c.value,
            "!=": lambda: col != c.value,
            "in": lambda: col.is_in(list(c.value)),
            "not_in": lambda: col.is_not_in(list(c.value)),
            "is_null": lambda: col.is_null(),
            "is_not_null": lambda: col.is_not_null(),
        }[c.op]()
        out = cond if out is None else out & cond
    return out


@dataclass(frozen=True)
class Suite:
    """The ordered expectations of one table (or corpus)."""

    name: str
    table: str
    expectations: tuple[ExpectationSpec, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def enabled(self) -> list[ExpectationSpec]:
        return [e for e in self.expectations if e.enabled]

    def get(self, name: str) -> ExpectationSpec:
        for e in self.expectations:
            if e.name == name:
                return e
        msg = f"suite {self.name!r} has no expectation {name!r}; names: {', '.join(self.names())}"
        raise SuiteError(msg)

    def names(self) -> list[str]:
        return [e.name for e in self.expectations]

    def to_gx(self) -> Any:
        """A ``gx.ExpectationSuite`` with the enabled expectations (imports GX)."""
        from quality._gx import gx_module

        gx = gx_module()
        suite = gx.ExpectationSuite(name=self.name, meta=dict(self.meta))
        for e in self.enabled:
            suite.add_expectation(e.to_gx())
        return suite


# -- overrides -----------------------------------------------------------------------------------


def apply_overrides(suite: Suite, overrides: Mapping[str, ExpectationOverride] | None) -> Suite:
    """Apply ``{expectation name: ExpectationOverride}`` to a suite; unknown names are errors."""
    if not overrides:
        return suite
    known = set(suite.names())
    unknown = sorted(set(overrides) - known)
    if unknown:
        msg = (
            f"quality override for table {suite.table!r} names unknown expectation(s) "
            f"{', '.join(map(repr, unknown))}; the suite has: {', '.join(suite.names())}"
        )
        raise SuiteError(msg)
    out = []
    for e in suite.expectations:
        ov = overrides.get(e.name)
        out.append(e if ov is None else _override_one(suite, e, ov))
    return replace(suite, expectations=tuple(out))


def _override_one(suite: Suite, e: ExpectationSpec, ov: ExpectationOverride) -> ExpectationSpec:
    where = f"quality override {suite.table}.{e.name} ({e.type})"
    kw = dict(e.kwargs)
    changes: dict[str, Any] = {}
    if ov.enabled is not None:
        changes["enabled"] = ov.enabled
    if ov.severity is not None:
        changes["severity"] = ov.severity
    if ov.mostly is not None:
        if not e.row_level:
            raise SuiteError(f"{where}: 'mostly' applies to row-level expectations only")
        kw["mostly"] = ov.mostly
    if ov.min_count is not None:
        if not e.row_level:
            raise SuiteError(f"{where}: 'min_count' applies to row-level expectations only")
        changes["min_count"] = ov.min_count
    for key in ("min_value", "max_value"):
        val = getattr(ov, key)
        if val is not None:
            if e.type not in _BOUNDED:
                raise SuiteError(f"{where}: '{key}' does not apply (no bounds)")
            kw[key] = val
    if ov.value_set is not None:
        if e.type not in _SETS:
            raise SuiteError(f"{where}: 'value_set' does not apply (not a set expectation)")
        kw["value_set"] = list(ov.value_set)
    if ov.regex is not None:
        if e.type not in _REGEX:
            raise SuiteError(f"{where}: 'regex' does not apply (not a regex expectation)")
        kw["regex"] = ov.regex
    return replace(e, kwargs=kw, **changes)


# -- validation against a schema -----------------------------------------------------------------


def validate_suite(suite: Suite, schema: pl.Schema) -> Suite:
    """Check every enabled expectation against the table's polars schema.

    Bounds given as ISO strings for datetime columns are parsed into aware datetimes here, so GX
    and the fast engine both compare datetimes with datetimes.

    Raises
    ------
    SuiteError
        An unknown column, a bound or set member whose type does not fit the column, a bad regex,
        ``min_value > max_value``, a ``mostly`` outside [0, 1].
    """
    names = set(suite.names())
    if len(names) != len(suite.expectations):
        raise SuiteError(f"suite {suite.name!r}: expectation names must be unique")
    out = []
    for e in suite.expectations:
        where = f"suite {suite.name!r}, expectation {e.name!r} ({e.type})"
        if not e.enabled:
            out.append(e)
            continue
        if e.type != "ExpectColumnToExist":
            for col in e.columns + [c.column for c in e.where]:
                if col not in schema:
                    msg = (
                        f"{where}: unknown column {col!r}; the table has: "
                        f"{', '.join(schema.names())}"
                    )
                    raise SuiteError(msg)
        kw = dict(e.kwargs)
        m = kw.get("mostly")
        if m is not None and not (0.0 <= float(m) <= 1.0):
            raise SuiteError(f"{where}: mostly={m!r} must be within [0, 1]")
        if e.min_count < 1:
            raise SuiteError(f"{where}: min_count={e.min_count!r} must be at least 1")
        col = kw.get("column")
        dtype = schema.get(col) if col is not None else None
        for key in ("min_value", "max_value"):
            if key in kw and kw[key] is not None:
                kw[key] = _check_bound(where, e.type, key, kw[key], dtype)
        lo, hi = kw.get("min_value"), kw.get("max_value")
        if lo is not None and hi is not None and lo > hi:
            raise SuiteError(f"{where}: min_value {lo!r} is greater than max_value {hi!r}")
        if e.type in ("ExpectColumnValuesToBeBetween",) and lo is None and hi is None:
            raise SuiteError(f"{where}: give min_value, max_value or both")
        if "value_set" in kw and dtype is not None:
            for v in kw["value_set"]:
                _check_scalar(where, "value_set member", v, dtype)
        if "regex" in kw:
            # GX uses Python's re; patterns polars cannot compile just run on the GX engine.
            try:
                re.compile(kw["regex"])
            except re.error as exc:
                raise SuiteError(f"{where}: regex {kw['regex']!r} does not compile: {exc}") from None
        for c in e.where:
            if c.op in ("==", "!="):
                _check_scalar(where, f"row filter on {c.column!r}", c.value, schema[c.column])
            elif c.op in ("in", "not_in"):
                for v in c.value:
                    _check_scalar(where, f"row filter on {c.column!r}", v, schema[c.column])
        out.append(replace(e, kwargs=kw))
    return replace(suite, expectations=tuple(out))


def _check_bound(where: str, etype: str, key: str, val: Any, dtype: Any) -> Any:
    import polars as pl

    if etype != "ExpectColumnValuesToBeBetween" or dtype is None:
        if isinstance(val, str) or isinstance(val, bool):
            raise SuiteError(f"{where}: {key}={val!r} must be a number")
        return val
    if dtype.is_numeric():
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            msg = f"{where}: {key}={val!r} is a {type(val).__name__}, but the column is {dtype}; use a number"
            raise SuiteError(msg)
        return val
    if isinstance(dtype, pl.Datetime):
        if isinstance(val, str):
            try:
                val = dt.datetime.fromisoformat(val)
            except ValueError:
                raise SuiteError(f"{where}: {key}={val!r} is not an ISO datetime") from None
        if not isinstance(val, dt.datetime):
            raise SuiteError(f"{where}: {key}={val!r} must be a datetime for a {dtype} column")
        aware = val.tzinfo is not None
        if aware != (dtype.time_zone is not None):
            msg = (
                f"{where}: {key}={val!r} is {'aware' if aware else 'naive'} but the column "
                f"{dtype} is {'naive' if aware else 'time-zone aware'}; give an offset to match"
            )
            raise SuiteError(msg)
        return val
    if dtype == pl.String:
        if not isinstance(val, str):
            raise SuiteError(f"{where}: {key}={val!r} must be a string for a String column")
        return val
    raise SuiteError(f"{where}: bounds on a {dtype} column are not supported")


def _check_scalar(where: str, what: str, v: Any, dtype: Any) -> None:
    import polars as pl

    if v is None:
        return
    ok = True
    if dtype == pl.String or dtype == pl.Categorical:
        ok = isinstance(v, str)
    elif dtype == pl.Boolean:
        ok = isinstance(v, bool)
    elif dtype.is_numeric():
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    if not ok:
        msg = f"{where}: {what} {v!r} ({type(v).__name__}) does not fit the column type {dtype}"
        raise SuiteError(msg)
