"""Quarantine rows of the ingest stage: rejected rows, an unreadable file, missing columns."""

from __future__ import annotations

import polars as pl

from corpusmill import canonical
from corpusmill.mapping import FileContext


def _rejects_to_quarantine(
    ctx: FileContext, rejects: pl.DataFrame, tags: list[str] | None = None
) -> pl.DataFrame:
    """Quarantine rows for rejected rows; in a reshaped file, one per tag cell of the row."""
    column = pl.lit(None, pl.String)
    if tags:
        rejects = rejects.join(pl.DataFrame({"__tag": tags}), how="cross")
        column = pl.col("__tag")
    return rejects.select(
        pl.lit(ctx.source).alias("_source"),
        pl.lit(ctx.file).alias("_file"),
        pl.col("_row").cast(pl.Int64),
        column.alias("column"),
        pl.col("raw_value").cast(pl.String),
        pl.col("reason").cast(pl.String),
        pl.col("check").cast(pl.String),
        pl.lit(ctx.run_id).alias("_run_id"),
        pl.lit(ctx.table).alias("table"),
        pl.lit("ingest").alias("stage"),
        pl.lit(ctx.sha256).alias("_file_sha256"),
    )


def _file_problem(ctx: FileContext, check: str, column: str | None, reason: str) -> pl.DataFrame:
    return pl.DataFrame(
        [{"_source": ctx.source, "_file": ctx.file, "_row": None, "column": column,
          "raw_value": None, "reason": reason, "check": check, "_run_id": ctx.run_id,
          "table": ctx.table, "stage": "ingest", "_file_sha256": ctx.sha256}],
        schema=pl.Schema(canonical.QUARANTINE),
    )  # fmt: skip


def _missing_columns(
    ctx: FileContext, batch: pl.DataFrame, missing: dict[str, str], columns: list[str]
) -> pl.DataFrame:
    col = sorted(missing)[0]
    reason = (
        f"file lacks mapped column '{col}' ({missing[col]}); schema drift? "
        f"its columns are: {', '.join(columns)}"
    )
    return batch.select(
        pl.lit(ctx.source).alias("_source"),
        pl.lit(ctx.file).alias("_file"),
        pl.col("_row").cast(pl.Int64),
        pl.lit(col).alias("column"),
        pl.lit(None, pl.String).alias("raw_value"),
        pl.lit(reason).alias("reason"),
        pl.lit("missing_column").alias("check"),
        pl.lit(ctx.run_id).alias("_run_id"),
        pl.lit(ctx.table).alias("table"),
        pl.lit("ingest").alias("stage"),
        pl.lit(ctx.sha256).alias("_file_sha256"),
    )
