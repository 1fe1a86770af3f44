"""Sensors: notice new and changed source files (by checksum) and ingest just their sources."""

from __future__ import annotations

import hashlib

import dagster as dg

from assets.resources import CorpusmillResource
from assets.selection import ingest_selection, staged_key
from corpusmill.config import SourcesConfig
from corpusmill.ingest import pending_files


def build_sensors(cfg: SourcesConfig) -> list[dg.SensorDefinition]:
    @dg.sensor(
        name="source_files_sensor",
        minimum_interval_seconds=60,
        asset_selection=ingest_selection(),
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests an ingest run for each source with new, changed or removed files.",
    )
    def source_files_sensor(context: dg.SensorEvaluationContext, corpusmill: CorpusmillResource):
        cfg = corpusmill.config
        for src in cfg.sources:
            table = cfg.table_of(src)
            if table is None:
                continue
            pending = pending_files(cfg, src, corpusmill.lake)
            if not pending:
                continue
            key = ",".join(f"{f}@{sha}" for f, sha in sorted(pending.items()))
            context.log.info(f"{src.name}: {len(pending)} new/changed/removed file(s)")
            yield dg.RunRequest(
                run_key=f"{src.name}:{hash_key(key)}",
                partition_key=src.name,
                asset_selection=[staged_key(table)],
                tags={"corpusmill/trigger": "source_files_sensor"},
            )

    automation = dg.AutomationConditionSensorDefinition(
        "corpusmill_automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Materializes standardize → partition eagerly after new ingests.",
    )
    return [source_files_sensor, automation]


def hash_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
