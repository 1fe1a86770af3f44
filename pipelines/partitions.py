"""Partitions: one per source, per canonical table that sources feed."""

from __future__ import annotations

import dagster as dg

from corpusmill.canonical import KIND_TABLE
from corpusmill.config import SourcesConfig


def source_partitions(cfg: SourcesConfig) -> dict[str, dg.StaticPartitionsDefinition]:
    """Canonical table -> partitions keyed by the names of the sources that feed it."""
    out: dict[str, list[str]] = {}
    for s in cfg.sources:
        out.setdefault(KIND_TABLE[s.kind], []).append(s.name)
    return {table: dg.StaticPartitionsDefinition(sorted(names)) for table, names in out.items()}
