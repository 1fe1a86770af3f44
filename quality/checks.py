"""The bridge from suite results to Dagster asset checks (the only module here importing Dagster).

Each validated table gets two checks: ``<table>_suite`` (blocking: an ERROR-severity failure fails
it with ``AssetCheckSeverity.ERROR`` and stops downstream assets; WARN-only failures fail it with
``WARN``) and ``conservation`` (rows in = rows kept + rows quarantined, per partition).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dagster as dg

from quality.engine import TableValidation, _jsonable
from quality.suites import suite_name

if TYPE_CHECKING:
    from dagster import AssetCheckResult, AssetCheckSpec

CONSERVATION = "conservation"
MAX_VALUES = 5


def check_specs(asset_key: Any, table: str) -> list[AssetCheckSpec]:
    """The check specs to declare on the asset that writes ``table``."""
    key = dg.AssetKey.from_coercible(asset_key)
    return [
        dg.AssetCheckSpec(
            name=suite_name(table),
            asset=key,
            blocking=True,
            description=(
                f"Great Expectations suite {suite_name(table)} (ERROR failures block downstream)"
            ),
        ),
        dg.AssetCheckSpec(
            name=CONSERVATION,
            asset=key,
            blocking=True,
            description="rows in = rows kept + rows quarantined",
        ),
    ]


def check_results(
    asset_key: Any,
    table: str,
    validation: TableValidation,
    *,
    rows_in: int,
    docs_url: str | None,
    stored: tuple[int, int] | None = None,
) -> list[AssetCheckResult]:
    """``AssetCheckResult``s for the suite check and the conservation check.

    ``stored`` is (rows kept, rows quarantined) as recounted in the lake after writing; when given,
    the conservation check judges what was stored rather than the in-memory result.
    """
    key = dg.AssetKey.from_coercible(asset_key)
    summary = validation.summary.to_dicts()
    failed = [s for s in summary if not s["success"]]
    failed_error = [s["name"] for s in failed if s["severity"] == "error"]
    failed_warn = [s["name"] for s in failed if s["severity"] != "error"]
    severity = dg.AssetCheckSeverity.ERROR if failed_error or not failed else dg.AssetCheckSeverity.WARN

    rows = []
    for s in summary:
        rows.append(
            {
                "name": s["name"],
                "type": s["expectation_type"],
                "column": s["column"],
                "severity": s["severity"],
                "row_level": s["row_level"],
                "success": s["success"],
                "unexpected_count": s["unexpected_count"],
                "unexpected_percent": s["unexpected_percent"],
                "unexpected_values": s["partial_unexpected_list"][:MAX_VALUES],
                "sources_failed": s["sources_failed"],
                "engine": s["engine"],
            }
        )
    md = ["| expectation | severity | ok | unexpected | % | values |", "|---|---|---|---|---|---|"]
    for r in rows:
        pct = "" if r["unexpected_percent"] is None else f"{r['unexpected_percent']:.3g}"
        cnt = "" if r["unexpected_count"] is None else str(r["unexpected_count"])
        vals = ", ".join(str(v) for v in r["unexpected_values"]).replace("|", "\\|")
        md.append(f"| {r['name']} | {r['severity']} | {'✅' if r['success'] else '❌'} | {cnt} "
                  f"| {pct} | {vals} |")  # fmt: skip

    meta: dict[str, Any] = {
        "expectations_evaluated": len(summary),
        "expectations_passed": len(summary) - len(failed),
        "expectations_failed": len(failed),
        "failed_error": dg.MetadataValue.json(failed_error),
        "failed_warn": dg.MetadataValue.json(failed_warn),
        "unexpected_counts": dg.MetadataValue.json(
            {r["name"]: r["unexpected_count"] for r in rows if r["row_level"]}
        ),
        "unexpected_percents": dg.MetadataValue.json(
            {r["name"]: r["unexpected_percent"] for r in rows if r["row_level"]}
        ),
        "unexpected_values": dg.MetadataValue.json(
            {r["name"]: _jsonable(r["unexpected_values"]) for r in rows if r["unexpected_values"]}
        ),
        "expectations": dg.MetadataValue.json(_jsonable(rows)),
        "summary": dg.MetadataValue.md("\n".join(md)),
        "rows_quarantined": validation.rows_quarantined,
        "sources": dg.MetadataValue.json([str(r.source) for r in validation.results]),
        "engines": dg.MetadataValue.json(sorted({o.engine for r in validation.results for o in r.results})),
    }
    if docs_url:
        meta["data_docs"] = dg.MetadataValue.url(docs_url)

    kept, quarantined = stored or (validation.rows_kept, validation.rows_quarantined)
    conserved = rows_in == kept + quarantined
    return [
        dg.AssetCheckResult(
            asset_key=key,
            check_name=suite_name(table),
            passed=not failed,
            severity=severity,
            metadata=meta,
            description=(
                "all expectations passed" if not failed else
                f"failed: {', '.join(failed_error + failed_warn)}"
            ),  # fmt: skip
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name=CONSERVATION,
            passed=conserved,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows_in": rows_in,
                "rows_kept": kept,
                "rows_quarantined": quarantined,
                "rows_lost": rows_in - kept - quarantined,
            },
        ),
    ]


def skipped_results(asset_key: Any, table: str, why: str) -> list[AssetCheckResult]:
    """The checks of an asset that had nothing to validate: passed, saying why (Dagster requires
    a result for every declared check)."""
    key = dg.AssetKey.from_coercible(asset_key)
    return [
        dg.AssetCheckResult(asset_key=key, check_name=name, passed=True, description=why,
                            metadata={"skipped": why})  # fmt: skip
        for name in (suite_name(table), CONSERVATION)
    ]
