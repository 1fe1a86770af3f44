"""Validate a table on its way into the lake: canonical tables and corpus builds.

A canonical table's rows are read from ``standardized/<table>``, validated, and the good rows
written as the table itself, the failing rows to its quarantine; the lake is then recounted so the
conservation check judges what was stored, not what was meant to be stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from corpusmill import canonical, lake
from corpusmill.layout import Lake

if TYPE_CHECKING:
    from corpusmill.config import SourcesConfig
    from quality.engine import TableValidation


@dataclass(frozen=True)
class ValidatedTable:
    validation: TableValidation
    rows_in: int
    stored: tuple[int, int]  # (rows kept, rows quarantined), recounted in the lake
    docs_url: str


def validate_canonical(
    cfg: SourcesConfig,
    lake_root: Path,
    gx_dir: Path,
    table: str,
    *,
    run_id: str,
    engine: str = "fast",
) -> ValidatedTable:
    """Validate ``standardized/<table>``, write the table and its quarantine, write the GX
    results and Data Docs."""
    from quality import reports
    from quality.engine import validate_table

    at = Lake(lake_root)
    schema = canonical.schema(table)
    rows = lake.read(at.standardized(table), schema=schema)
    result = validate_table(rows, table, cfg, run_id=run_id, engine=engine)
    lake.overwrite(at.table(table), result.good, schema=schema)
    lake.overwrite(at.quarantine("validate", table), result.quarantine)
    reports.write_results(gx_dir, table, run_id, result)
    docs = reports.build_data_docs(gx_dir)
    def count(path: Path) -> int:
        return lake.scan(path).select(pl.len()).collect().item()

    stored = (count(at.table(table)), count(at.quarantine("validate", table)))
    return ValidatedTable(result, rows.height, stored, docs.as_uri())


def manifest_summary(validation: TableValidation) -> dict[str, Any]:
    """What a corpus manifest records of its build's validation."""
    return {
        "rows_in": validation.rows_in,
        "rows_kept": validation.rows_kept,
        "rows_quarantined": validation.rows_quarantined,
        "expectations": validation.summary.to_dicts(),
    }
