"""What validating a frame produces: one outcome per expectation, per suite run, per table.

:class:`ExpectationOutcome` is one expectation's verdict (GX's result fields, whichever engine
produced it), :class:`SuiteResult` one suite run on one frame, :class:`TableValidation` a whole
table (good rows, quarantine rows, every suite run) and :func:`summarize` its summary, one row per
expectation. ``to_gx_json`` gives the GX-shaped JSON that the reports write.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import polars as pl

from quality.spec import ExpectationSpec

#: How many unexpected values a result lists (GX's ``partial_unexpected_count``).
PARTIAL = 20


@dataclass
class ExpectationOutcome:
    """The verdict of one expectation on one frame (GX result fields, engine-independent)."""

    name: str
    expectation_type: str
    column: str | None
    kwargs: dict[str, Any]
    severity: str
    row_level: bool
    success: bool
    element_count: int | None = None
    missing_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    partial_unexpected_list: list[Any] = field(default_factory=list)
    engine: str = "fast"
    observed_value: Any = None
    exception: str | None = None
    description: str = ""
    #: GX's own verdict failed, but fewer rows broke the expectation than its ``min_count``.
    tolerated: bool = False

    @property
    def blocking(self) -> bool:
        return not self.success and self.severity == "error"

    def gx_result(self) -> dict[str, Any]:
        """The ``result`` block as GX writes it."""
        if not self.row_level:
            if self.expectation_type == "expect_column_to_exist":
                return {}
            return {"observed_value": _jsonable(self.observed_value)}
        r: dict[str, Any] = {
            "element_count": self.element_count,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": self.unexpected_percent,
            "partial_unexpected_list": _jsonable(self.partial_unexpected_list),
        }
        if self.missing_count is not None:
            n = self.element_count or 0
            r["missing_count"] = self.missing_count
            r["missing_percent"] = self.missing_count / n * 100 if n else None
            r["unexpected_percent_total"] = (self.unexpected_count or 0) / n * 100 if n else None
            r["unexpected_percent_nonmissing"] = self.unexpected_percent
        return r

    def to_gx_json(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "expectation_config": {
                "type": self.expectation_type,
                "kwargs": _jsonable(self.kwargs),
                "meta": {"name": self.name, "row_level": self.row_level,
                         "corpusmill_severity": self.severity, "notes": self.description},
                "severity": "critical" if self.severity == "error" else "warning",
            },  # fmt: skip
            "result": self.gx_result(),
            "meta": {"engine": self.engine},
            "exception_info": {
                "raised_exception": self.exception is not None,
                "exception_traceback": None,
                "exception_message": self.exception,
            },
        }


@dataclass
class SuiteResult:
    """All outcomes of one suite on one frame."""

    suite_name: str
    table: str
    success: bool  # no ERROR-severity expectation failed
    results: list[ExpectationOutcome]
    row_failures: pl.DataFrame | None  # _idx (row in the frame) -> failed (names, suite order)
    n_rows: int = 0
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    def to_gx_json(self) -> dict[str, Any]:
        """An ``ExpectationSuiteValidationResult``-shaped JSON dict."""
        n = len(self.results)
        ok = sum(r.success for r in self.results)
        now = dt.datetime.now(dt.UTC).isoformat()
        run_name = self.meta.get("run_id") or "adhoc"
        return {
            "success": all(r.success for r in self.results),
            "results": [r.to_gx_json() for r in self.results],
            "suite_name": self.suite_name,
            "suite_parameters": {},
            "statistics": {
                "evaluated_expectations": n,
                "successful_expectations": ok,
                "unsuccessful_expectations": n - ok,
                "success_percent": ok / n * 100 if n else None,
            },
            "meta": {
                "great_expectations_version": version("great_expectations"),
                "batch_spec": {"table": self.table, "source": self.source},
                "batch_markers": {"n_rows": self.n_rows},
                "active_batch_definition": {"datasource_name": "corpusmill",
                                            "data_asset_name": self.table,
                                            "batch_definition_name": self.source or "all"},  # fmt: skip
                "run_id": {"run_name": run_name, "run_time": self.meta.get("run_time", now)},
                "validation_time": self.meta.get("run_time", now),
                "checkpoint_name": None,
                "corpusmill": {"blocking_success": self.success, "source": self.source,
                               "table": self.table},  # fmt: skip
            },
            "id": None,
        }


def _jsonable(v: Any) -> Any:
    if type(v).__name__ == "NaTType":
        return None
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None if math.isnan(v) else str(v)
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        try:
            return _jsonable(v.item())
        except (TypeError, ValueError):
            return str(v)
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if hasattr(v, "model_dump"):
        return _jsonable(v.model_dump())
    if hasattr(v, "dict"):
        try:
            return _jsonable(v.dict())
        except TypeError:
            pass
    return str(v)


def _outcome(spec: ExpectationSpec, engine: str, **kw: Any) -> ExpectationOutcome:
    """One outcome; a row-level failure by fewer rows than ``spec.min_count`` is tolerated (passes).

    Both engines build their outcomes here, so the blocking policy is the same for either.
    """
    n_bad = kw.get("unexpected_count")
    if spec.row_level and not kw.get("success", True) and n_bad is not None and n_bad < spec.min_count:
        kw = {**kw, "success": True, "tolerated": True}
    return ExpectationOutcome(
        name=spec.name,
        expectation_type=spec.expectation_type,
        column=spec.column,
        kwargs=spec.gx_kwargs(),
        severity=spec.severity,
        row_level=spec.row_level,
        engine=engine,
        description=spec.description,
        **kw,
    )


@dataclass
class TableValidation:
    """The outcome of validating one table: good rows, quarantine rows, and the results."""

    table: str
    good: pl.DataFrame
    quarantine: pl.DataFrame
    results: list[SuiteResult]
    summary: pl.DataFrame
    rows_in: int
    rows_kept: int
    rows_quarantined: int
    run_id: str = ""

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def conserved(self) -> bool:
        return self.rows_in == self.rows_kept + self.rows_quarantined


SUMMARY_SCHEMA = pl.Schema(
    {
        "name": pl.String(), "expectation_type": pl.String(), "column": pl.String(),
        "severity": pl.String(), "row_level": pl.Boolean(), "success": pl.Boolean(),
        "element_count": pl.Int64(), "missing_count": pl.Int64(), "unexpected_count": pl.Int64(),
        "unexpected_percent": pl.Float64(), "sources_failed": pl.List(pl.String()),
        "partial_unexpected_list": pl.List(pl.String()), "engine": pl.String(),
    }
)  # fmt: skip


def summarize(results: list[SuiteResult]) -> pl.DataFrame:
    """One row per expectation name across slices: counts summed, success only if all passed."""
    acc: dict[str, dict[str, Any]] = {}
    for r in results:
        for o in r.results:
            a = acc.setdefault(o.name, {
                "name": o.name, "expectation_type": o.expectation_type, "column": o.column,
                "severity": o.severity, "row_level": o.row_level, "success": True,
                "element_count": 0, "missing_count": 0, "unexpected_count": 0,
                "unexpected_percent": None, "sources_failed": [], "partial_unexpected_list": [],
                "engine": o.engine,
            })  # fmt: skip
            a["success"] = a["success"] and o.success
            if not o.success:
                a["sources_failed"].append(str(r.source))
            for key in ("element_count", "missing_count", "unexpected_count"):
                a[key] += getattr(o, key) or 0
            if len(a["partial_unexpected_list"]) < PARTIAL:
                a["partial_unexpected_list"] += [str(_jsonable(v)) for v in o.partial_unexpected_list]
                a["partial_unexpected_list"] = a["partial_unexpected_list"][:PARTIAL]
            if o.engine != a["engine"]:
                a["engine"] = "mixed"
    for a in acc.values():
        considered = a["element_count"] - a["missing_count"]
        if a["row_level"] and considered:
            a["unexpected_percent"] = a["unexpected_count"] / considered * 100
        if not a["row_level"]:
            a["element_count"] = a["missing_count"] = a["unexpected_count"] = None
    return pl.DataFrame(list(acc.values()), schema=SUMMARY_SCHEMA) if acc else pl.DataFrame(
        schema=SUMMARY_SCHEMA)  # fmt: skip
