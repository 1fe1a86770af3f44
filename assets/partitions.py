"""Partitions: each ingest asset is partitioned by the sources that feed its table."""

from __future__ import annotations

import dagster as dg

from corpusmill.config import SourcesConfig


def source_partitions(cfg: SourcesConfig) -> dict[str, dg.StaticPartitionsDefinition]:
    """Ingested canonical table -> partitions keyed by the names of the sources that feed it."""
    return {t: dg.StaticPartitionsDefinition(names) for t, names in cfg.ingested_sources().items()}
