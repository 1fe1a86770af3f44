"""The canonical manufacturing model: table names and column schemas.

These names are the public contract: DuckDB users query them by these names, so a rename here is a
breaking change. Every canonical row carries the provenance columns in :data:`PROVENANCE`.
"""

from __future__ import annotations

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

#: Columns every canonical row carries: where it came from, exactly.
PROVENANCE: dict[str, pl.DataType] = {
    "_source": pl.String(),  # the source name in sources.yaml
    "_file": pl.String(),  # the file path (or URI) as resolved at ingest
    "_row": pl.Int64(),  # 1-based data row in that file (header rows not counted)
    "_file_sha256": pl.String(),
    "_run_id": pl.String(),
}

EQUIPMENT: dict[str, pl.DataType] = {
    "equipment_id": pl.String(),  # ISA-95 path site/area/line/unit
    "name": pl.String(),
    "site": pl.String(),
    "area": pl.String(),
    "line": pl.String(),
    "unit": pl.String(),
    "equipment_type": pl.String(),
    "aliases": pl.List(pl.String()),  # every spelling seen in any source, and declared ones
    "sources": pl.List(pl.String()),  # sources that mention it
}

SENSOR_READINGS: dict[str, pl.DataType] = {
    "ts_utc": UTC_TS,  # null for batch records that only carry a clock relative to batch start
    "batch_id": pl.String(),
    "t_offset_s": pl.Float64(),  # seconds since batch start, for relative-clock records
    "sample_index": pl.Int64(),  # 0-based position within the batch, for batch records
    "equipment_id": pl.String(),
    "signal": pl.String(),
    "value": pl.Float64(),  # in SI units
    "unit": pl.String(),  # the SI unit of value (pint's short symbol, e.g. "K", "Pa")
    "quality": pl.String(),  # source quality flag, e.g. "Good", "Uncertain"
}

PRODUCTION_EVENTS: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "event_type": pl.String(),  # work_order | batch | lot
    "equipment_id": pl.String(),
    "product": pl.String(),
    "lot_id": pl.String(),
    "start_utc": UTC_TS,
    "end_utc": UTC_TS,
    "quantity_planned": pl.Float64(),
    "quantity_good": pl.Float64(),
    "quantity_scrap": pl.Float64(),
    "status": pl.String(),
}

QUALITY_INSPECTIONS: dict[str, pl.DataType] = {
    "inspection_id": pl.String(),
    "ts_utc": UTC_TS,
    "equipment_id": pl.String(),
    "lot_id": pl.String(),
    "characteristic": pl.String(),
    "value": pl.Float64(),  # SI
    "unit": pl.String(),
    "lsl": pl.Float64(),  # lower spec limit, SI
    "usl": pl.Float64(),  # upper spec limit, SI
    "result": pl.String(),  # pass | fail
    "defect_code": pl.String(),
}

MAINTENANCE_RECORDS: dict[str, pl.DataType] = {
    "record_id": pl.String(),
    "equipment_id": pl.String(),
    "reported_utc": UTC_TS,
    "completed_utc": UTC_TS,
    "maintenance_type": pl.String(),  # corrective | preventive | inspection | ...
    "text": pl.String(),  # free text, any language: the symptom / request
    "action": pl.String(),  # what was done, when the source has it separately
    "cost": pl.Float64(),
    "currency": pl.String(),
}

DOCUMENTS: dict[str, pl.DataType] = {
    "doc_id": pl.String(),
    "title": pl.String(),
    "doc_type": pl.String(),  # manual | sop | report | ticket
    "equipment_id": pl.String(),
    "language": pl.String(),
    "text": pl.String(),
    "created_utc": UTC_TS,
}

INSPECTION_IMAGES: dict[str, pl.DataType] = {
    "image_id": pl.String(),
    "content": pl.Binary(),  # the image bytes, kept in the lake
    "sha256": pl.String(),
    "size_bytes": pl.Int64(),
    "width": pl.Int64(),
    "height": pl.Int64(),
    "image_format": pl.String(),
    "label": pl.String(),
    "equipment_id": pl.String(),
    "lot_id": pl.String(),
    "ts_utc": UTC_TS,
}

QUARANTINE: dict[str, pl.DataType] = {
    "_source": pl.String(),
    "_file": pl.String(),
    "_row": pl.Int64(),
    "column": pl.String(),
    "raw_value": pl.String(),
    "reason": pl.String(),
    "check": pl.String(),  # the rule that failed: an ingest rule or a GX expectation type
    "_run_id": pl.String(),
    "table": pl.String(),  # the canonical table the row was headed for
    "stage": pl.String(),  # ingest | standardize | validate
    "_file_sha256": pl.String(),
}

#: Canonical tables by their public name (without provenance).
TABLES: dict[str, dict[str, pl.DataType]] = {
    "equipment": EQUIPMENT,
    "sensor_readings": SENSOR_READINGS,
    "production_events": PRODUCTION_EVENTS,
    "quality_inspections": QUALITY_INSPECTIONS,
    "maintenance_records": MAINTENANCE_RECORDS,
    "documents": DOCUMENTS,
    "inspection_images": INSPECTION_IMAGES,
}

#: sources.yaml `kind` -> the canonical table its rows land in.
KIND_TABLE: dict[str, str] = {
    "sensor": "sensor_readings",
    "production": "production_events",
    "quality": "quality_inspections",
    "maintenance": "maintenance_records",
    "document": "documents",
    "image": "inspection_images",
    "equipment": "equipment",
}

#: Tables whose rows are ingested from sources (equipment is built from the registry instead).
INGESTED_TABLES: tuple[str, ...] = tuple(t for t in TABLES if t != "equipment")


def schema(table: str, *, provenance: bool = True) -> pl.Schema:
    """The polars schema of a canonical table, with provenance columns by default."""
    try:
        cols = dict(TABLES[table])
    except KeyError:
        msg = f"unknown canonical table {table!r}; known: {', '.join(TABLES)}"
        raise KeyError(msg) from None
    if provenance and table != "equipment":
        cols.update(PROVENANCE)
    return pl.Schema(cols)


def empty(table: str) -> pl.DataFrame:
    """An empty frame with the table's canonical schema."""
    return pl.DataFrame(schema=schema(table))


def conform(df: pl.DataFrame, table: str) -> pl.DataFrame:
    """Select and cast ``df`` to the canonical schema of ``table``; missing columns become null."""
    target = schema(table)
    return df.select(
        [
            (pl.col(name) if name in df.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in target.items()
        ]
    )


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=pl.Schema(QUARANTINE))
