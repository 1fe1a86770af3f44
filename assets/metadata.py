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
