"""Standardize: one canonical table from every source's staged rows, and the equipment table.

Staged rows already carry SI units, UTC and registry equipment ids (the mapping does that while
streaming). What needs every source at once happens here: exact duplicates across files and
sources are quarantined (the first delivery is kept), and the equipment table gathers the registry
with every alias seen in any source.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from corpusmill import canonical, lake
from corpusmill.config import SourcesConfig, normalize_alias
from corpusmill.layout import EQUIPMENT_SUGGESTIONS, Lake
from corpusmill.mapping import ALIAS_SCHEMA


def read_staged(lake_root: Path, sources: list[str], table: str) -> pl.DataFrame:
    """Every staged row of the given sources, in (source, file, row) order."""
    paths = [Lake(lake_root).staged(s) for s in sources]
    frames = [lake.scan(p) for p in paths if lake.exists(p)]
    if not frames:
        return canonical.empty(table)
    df = pl.concat(frames, how="diagonal_relaxed").collect()
    return canonical.conform(df, table).sort("_source", "_file", "_row", maintain_order=True)


def dedupe(df: pl.DataFrame, table: str, *, run_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split exact duplicates (equal in every canonical column) from first deliveries.

    Returns ``(kept, quarantine)``; each quarantined row names the row it duplicates.
    """
    key = [c for c in canonical.TABLES[table] if c != "content"]
    if table == "inspection_images":
        key = [c for c in key if c != "image_id"]
    indexed = df.with_row_index("__i")
    first = indexed.group_by(key, maintain_order=True).agg(
        pl.col("__i").first().alias("__first"),
        pl.col("_file").first().alias("__first_file"),
        pl.col("_row").first().alias("__first_row"),
    )
    joined = indexed.join(first, on=key, how="left", nulls_equal=True, maintain_order="left")
    is_dup = pl.col("__i") != pl.col("__first")
    kept = joined.filter(~is_dup).select(df.columns)
    dups = joined.filter(is_dup)
    quarantine = dups.select(
        "_source",
        "_file",
        "_row",
        pl.lit(None, pl.String).alias("column"),
        pl.lit(None, pl.String).alias("raw_value"),
        pl.format("exact duplicate of {} row {}", pl.col("__first_file"), pl.col("__first_row"))
        .alias("reason"),
        pl.lit("duplicate").alias("check"),
        pl.lit(run_id).alias("_run_id"),
        pl.lit(table).alias("table"),
        pl.lit("standardize").alias("stage"),
        "_file_sha256",
    ).cast(canonical.QUARANTINE)
    return kept, quarantine


def equipment_table(cfg: SourcesConfig, lake_root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The equipment table (registry + every alias seen) and the unknown aliases with suggestions.

    Unknown aliases are never merged into an equipment row: they are listed as suggestions for a
    person to confirm by adding them to the registry.
    """
    paths = [Lake(lake_root).aliases(s.name) for s in cfg.sources]
    seen = [lake.read(p, schema=ALIAS_SCHEMA) for p in paths if lake.exists(p)]
    aliases = pl.concat(seen) if seen else pl.DataFrame(schema=ALIAS_SCHEMA)
    rows = []
    for e in cfg.equipment:
        parts = e.id.split("/")
        mine = aliases.filter(pl.col("equipment_id") == e.id)
        spelled = sorted(
            {a for a in [e.name, *e.aliases] if a} | set(mine.get_column("alias").to_list()),
            key=normalize_alias,
        )
        rows.append(
            {
                "equipment_id": e.id, "name": e.name or parts[-1], "site": parts[0],
                "area": parts[1], "line": parts[2], "unit": parts[3], "equipment_type": e.type,
                "aliases": spelled, "sources": sorted(set(mine.get_column("_source").to_list())),
            }
        )  # fmt: skip
    unregistered = aliases.filter(
        pl.col("equipment_id").is_not_null()
        & ~pl.col("equipment_id").is_in([e.id for e in cfg.equipment])
    )
    for (eid,), grp in unregistered.group_by("equipment_id", maintain_order=True):
        parts = eid.split("/")
        rows.append(
            {
                "equipment_id": eid, "name": grp["alias"][0], "site": parts[0], "area": parts[1],
                "line": parts[2], "unit": parts[3], "equipment_type": None,
                "aliases": sorted(set(grp["alias"].to_list())),
                "sources": sorted(set(grp["_source"].to_list())),
            }
        )  # fmt: skip
    equipment = pl.DataFrame(rows, schema=canonical.schema("equipment")).sort("equipment_id")
    suggestions = (
        aliases.filter(pl.col("equipment_id").is_null())
        .group_by("alias", "suggestion")
        .agg(pl.col("rows").sum(), pl.col("_source").unique().sort().alias("sources"))
        .sort("alias")
    )
    return equipment, suggestions


def write_equipment(cfg: SourcesConfig, lake_root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Build and write the ``equipment`` and ``equipment_suggestions`` tables; returns both."""
    equipment, suggestions = equipment_table(cfg, lake_root)
    at = Lake(lake_root)
    lake.overwrite(at.table("equipment"), equipment, schema=canonical.schema("equipment"))
    lake.overwrite(at.table(EQUIPMENT_SUGGESTIONS), suggestions)
    return equipment, suggestions


def standardize_table(
    cfg: SourcesConfig, lake_root: Path, table: str, *, run_id: str
) -> tuple[int, pl.DataFrame, pl.DataFrame]:
    """Gather a table's staged rows from every source feeding it, set exact duplicates aside, and
    write ``standardized/<table>`` and its quarantine. Returns (rows in, kept, duplicates)."""
    staged = read_staged(lake_root, cfg.ingested_sources().get(table, []), table)
    kept, dups = dedupe(staged, table, run_id=run_id)
    at = Lake(lake_root)
    lake.overwrite(at.standardized(table), kept, schema=canonical.schema(table))
    lake.overwrite(at.quarantine("standardize", table), dups)
    return staged.height, kept, dups
