"""Small helpers shared by the asset modules."""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl


def table_md(rows: list[dict[str, Any]], *, limit: int = 30) -> dg.MetadataValue:
    """A Markdown table for asset metadata (the UI renders it)."""
    if not rows:
        return dg.MetadataValue.md("_none_")
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows[:limit]:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more rows_")
    return dg.MetadataValue.md("\n".join(lines))


def frame_md(df: pl.DataFrame, *, limit: int = 30) -> dg.MetadataValue:
    return table_md(df.head(limit).to_dicts(), limit=limit)


def run_id(context: dg.AssetExecutionContext) -> str:
    return context.run.run_id


#: Rows a table asset shows as its preview in the UI.
PREVIEW_ROWS = 5


def column_schema(schema: pl.Schema) -> dg.TableSchema:
    """``dagster/column_schema`` for a polars schema (the UI's Columns tab)."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in schema.items()]
    )


def table_metadata(df: pl.DataFrame) -> dict[str, Any]:
    """Column schema, row count and a preview of the first rows, for a table asset."""
    shown = [c for c in df.columns if df.schema[c] != pl.Binary]  # image bytes: not for a table
    rows = [{k: "" if r[k] is None else str(r[k])[:60].replace("|", "\\|").replace("\n", " ")
             for k in shown} for r in df.head(PREVIEW_ROWS).to_dicts()]  # fmt: skip
    return {
        "dagster/column_schema": column_schema(df.schema),
        "dagster/row_count": df.height,
        "preview": table_md(rows, limit=PREVIEW_ROWS),
    }

