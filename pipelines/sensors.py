"""Sensors: notice new and changed source files (by checksum) and ingest just their sources."""

from __future__ import annotations

import dagster as dg

from corpusmill.config import SourcesConfig
from corpusmill.ingest import pending_files
from pipelines.resources import CorpusmillResource


def build_sensors(cfg: SourcesConfig) -> list[dg.SensorDefinition]:
    from corpusmill.canonical import KIND_TABLE

    tables = sorted({KIND_TABLE[s.kind] for s in cfg.sources} - {"equipment"})

    @dg.sensor(
        name="source_files_sensor",
        minimum_interval_seconds=60,
        asset_selection=dg.AssetSelection.keys(*[f"staged_{t}" for t in tables]),
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests an ingest run for each source with new, changed or removed files.",
    )
    def source_files_sensor(context: dg.SensorEvaluationContext, corpusmill: CorpusmillResource):
        cfg = corpusmill.config
        for src in cfg.sources:
            if KIND_TABLE[src.kind] == "equipment":
                continue
            pending = pending_files(cfg, src, corpusmill.lake)
            if not pending:
                continue
            key = ",".join(f"{f}@{sha}" for f, sha in sorted(pending.items()))
            context.log.info(f"{src.name}: {len(pending)} new/changed/removed file(s)")
            yield dg.RunRequest(
                run_key=f"{src.name}:{hash_key(key)}",
                partition_key=src.name,
                asset_selection=[dg.AssetKey(f"staged_{KIND_TABLE[src.kind]}")],
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
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]
