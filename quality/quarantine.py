"""Quarantine rows: one row of the canonical QUARANTINE table per input row a suite rejected.

A row is rejected when it failed a row-level expectation of ERROR severity; its reason names every
expectation it failed (errors and warnings), what each expected and the values it held.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from quality.results import SuiteResult
from quality.spec import Suite


def _quarantine_rows(
    part: pl.DataFrame, suite: Suite, res: SuiteResult, table: str, run_id: str
) -> tuple[pl.Series, pl.DataFrame] | None:
    """One QUARANTINE row per input row that failed a row-level ERROR expectation."""
    from corpusmill.canonical import QUARANTINE

    if res.row_failures is None or res.row_failures.height == 0:
        return None
    specs = {e.name: e for e in suite.enabled}
    error_names = {e.name for e in suite.enabled if e.row_level and e.severity == "error"}
    hit = [any(nm in error_names for nm in f) for f in res.row_failures["failed"].to_list()]
    rf = res.row_failures.filter(pl.Series(hit, dtype=pl.Boolean))
    if rf.height == 0:
        return None
    idx = rf["_idx"]
    rows = part[idx]
    records: dict[str, list[Any]] = {k: [] for k in QUARANTINE}
    prov = {c: rows[c].to_list() if c in rows.columns else [None] * rows.height
            for c in ("_source", "_file", "_row", "_file_sha256")}  # fmt: skip
    cache: dict[str, list[Any]] = {}

    def cell(col: str | None, j: int) -> str | None:
        if col is None or col not in rows.columns:
            return None
        if col not in cache:
            cache[col] = rows[col].to_list()
        v = cache[col][j]
        if v is None:
            return None
        if isinstance(v, dt.datetime):
            return v.isoformat()
        return str(v)

    for j, failed in enumerate(rf["failed"].to_list()):
        first = next(specs[nm] for nm in failed if nm in error_names)
        parts = []
        for nm in failed:
            e = specs[nm]
            shown = ", ".join(f"{c}={cell(c, j) if cell(c, j) is not None else 'null'}"
                              for c in e.columns)  # fmt: skip
            label = "error" if e.severity == "error" else "warning"
            desc = e.description or e.expectation_type
            cond = f" (where {' and '.join(c.describe() for c in e.where)})" if e.where else ""
            parts.append(f"{nm} [{label}]: expected {desc}{cond}, got {shown}")
        reason = f"failed {len(failed)} check(s): " + "; ".join(parts)
        records["_source"].append(prov["_source"][j])
        records["_file"].append(prov["_file"][j])
        records["_row"].append(prov["_row"][j])
        records["column"].append(first.column)
        records["raw_value"].append(cell(first.column, j))
        records["reason"].append(reason)
        records["check"].append(first.expectation_type)
        records["_run_id"].append(run_id)
        records["table"].append(table)
        records["stage"].append("validate")
        records["_file_sha256"].append(prov["_file_sha256"][j])
    return idx, pl.DataFrame(records, schema=pl.Schema(QUARANTINE))
