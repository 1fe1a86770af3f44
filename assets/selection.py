"""Asset keys and the one selection of the ingest assets (used by jobs, schedules, sensors and
the runner alike)."""

from __future__ import annotations

import dagster as dg

#: The group every ingest asset belongs to; everything downstream is in other groups.
INGEST_GROUP = "ingest"


def staged_key(table: str) -> dg.AssetKey:
    """The ingest asset of a canonical table (its partitions are the sources feeding it)."""
    return dg.AssetKey(f"staged_{table}")


def standardized_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(f"standardized_{table}")


#: The shard plans: one partition per training job.
SHARD_PLAN_KEY = dg.AssetKey("shard_plan")


def ingest_selection() -> dg.AssetSelection:
    """Every ingest asset."""
    return dg.AssetSelection.groups(INGEST_GROUP)


def after_ingest_selection() -> dg.AssetSelection:
    """Every asset downstream of ingest: standardize, validate, corpora, partition."""
    return dg.AssetSelection.all() - ingest_selection()


def is_ingest(asset: dg.AssetsDefinition) -> bool:
    return asset.group_names_by_key.get(asset.key) == INGEST_GROUP
