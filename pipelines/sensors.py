"""Sensors: notice new and changed source files (by checksum) and ingest just their sources.

The cursor holds, per source, a hash of the pending files it last asked to ingest: the same pending
set is requested once, a new file (or a changed one) asks again. The automation sensor then carries
each ingest on through standardize, validate, corpora and partition (``EAGER``).
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg

from assets.partitions import requested_keys, source_partitions
from assets.resources import CorpusmillResource
from assets.selection import ingest_selection, staged_key
from corpusmill.config import SourcesConfig
from corpusmill.ingest import pending_files


def build_sensors(cfg: SourcesConfig) -> list[dg.SensorDefinition]:
    parts = source_partitions(cfg)  # as loaded: a split source asks for the parts of its files

    @dg.sensor(
        name="source_files_sensor",
        minimum_interval_seconds=60,
        asset_selection=ingest_selection(),
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests an ingest run for each source with new, changed or removed files.",
    )
    def source_files_sensor(context: dg.SensorEvaluationContext, corpusmill: CorpusmillResource):
        cfg = corpusmill.config
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        for src in cfg.sources:
            table = cfg.table_of(src)
            if table is None:
                continue
            pending = pending_files(cfg, src, corpusmill.lake)
            if not pending:
                continue
            key = hash_key(",".join(f"{f}@{sha}" for f, sha in sorted(pending.items())))
            if seen.get(src.name) == key:
                continue  # already requested; the run (or the nightly sweep) takes it from here
            seen[src.name] = key
            context.log.info(f"{src.name}: {len(pending)} new/changed/removed file(s)")
            for pkey in requested_keys(cfg, parts[table], src.name, pending):
                yield dg.RunRequest(
                    run_key=f"{pkey}:{key}",
                    partition_key=pkey,
                    asset_selection=[staged_key(table)],
                    tags={"corpusmill/trigger": "source_files_sensor"},
                )
        context.update_cursor(json.dumps(seen, sort_keys=True))

    automation = dg.AutomationConditionSensorDefinition(
        "corpusmill_automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Materializes standardize → partition eagerly after new ingests.",
    )
    return [source_files_sensor, automation]


def hash_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
