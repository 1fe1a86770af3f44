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
    stream_rows: int | None = None,
) -> ValidatedTable:
    """Validate ``standardized/<table>``, write the table and its quarantine, write the GX
    results and Data Docs.

    A table of more than ``stream_rows`` rows (default :data:`STREAM_ROWS`) is validated with
    the fast engine on the streaming engine and written as a stream, so memory holds the columns
    being checked and the failing rows, not the table (see :func:`_validate_streamed`); its
    validation's ``good`` is then a preview of the first good rows.
    """
    from quality import reports
    from quality.engine import validate_table

    stream_rows = STREAM_ROWS if stream_rows is None else stream_rows
    at = Lake(lake_root)
    schema = canonical.schema(table)
    streamed = None
    if engine == "fast" and lake.exists(at.standardized(table)):
        streamed = _validate_streamed(cfg, at, table, run_id=run_id, min_rows=stream_rows)
    if streamed is not None:
        result, rows_in = streamed, streamed.rows_in
    else:
        rows = lake.read(at.standardized(table), schema=schema)
        result = validate_table(rows, table, cfg, run_id=run_id, engine=engine)
        lake.overwrite(at.table(table), result.good, schema=schema)
        rows_in = rows.height
        del rows
    lake.overwrite(at.quarantine("validate", table), result.quarantine)
    reports.write_results(gx_dir, table, run_id, result)
    docs = reports.build_data_docs(gx_dir)
    def count(path: Path) -> int:
        return lake.scan(path).select(pl.len()).collect().item()

    stored = (count(at.table(table)), count(at.quarantine("validate", table)))
    return ValidatedTable(result, rows_in, stored, docs.as_uri())


#: A standardized table of more rows than this is validated lazily and streamed to the lake.
STREAM_ROWS = 1_000_000

#: Rows per batch of a streamed table write.
_BATCH_ROWS = 500_000


def _validate_streamed(
    cfg: SourcesConfig, at: Lake, table: str, *, run_id: str, min_rows: int
) -> TableValidation | None:
    """Validate a large ``standardized/<table>`` lazily (:func:`quality.engine.validate_lazy`)
    and stream its good rows to the table; None for a small table or a suite that needs the
    whole frame (the caller validates the frame then).

    The table write is skipped when nothing changed: its fingerprint is the standardized table's
    own (the content it was written from) and the positions of the quarantined rows in it.
    """
    from quality.engine import validate_lazy

    source = at.standardized(table)
    version = lake.open_table(source).version()
    lf = lake.scan(source, version=version)
    n = lf.select(pl.len()).collect(engine="streaming").item()
    if n <= min_rows:
        return None
    out = validate_lazy(lf, table, cfg, run_id=run_id)
    if out is None:
        return None
    validation, bad = out
    last = lake.open_table(source).history(limit=1)
    written_from = (last[0].get(lake.FINGERPRINT_KEY) if last else None) or f"version {version}"
    fp = lake.json_hash(["validated", written_from, bad.sort().to_list()])
    drop = bad.implode()

    def batches():
        # a new scan: slices of the one validate_lazy ran on were 6x slower (polars 2.1)
        again = lake.scan(source, version=version).with_row_index("__g")
        for part in lake.slices(again, _BATCH_ROWS, total=n):
            yield part.filter(~pl.col("__g").is_in(drop)).drop("__g")

    lake.overwrite_batches(at.table(table), batches(), schema=canonical.schema(table),
                           fingerprint=fp)  # fmt: skip
    return validation


def manifest_summary(validation: TableValidation) -> dict[str, Any]:
    """What a corpus manifest records of its build's validation."""
    return {
        "rows_in": validation.rows_in,
        "rows_kept": validation.rows_kept,
        "rows_quarantined": validation.rows_quarantined,
        "expectations": validation.summary.to_dicts(),
    }
