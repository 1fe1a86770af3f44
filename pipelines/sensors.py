"""Sensors: notice new and changed source files (by checksum) and ingest just their sources;
re-plan the training jobs whose corpus got a new version.

The cursor holds, per source, a hash of the pending files it last asked to ingest: the same pending
set is requested once, a new file (or a changed one) asks again. The automation sensor then carries
each ingest on through standardize, validate and the corpora (``EAGER``). The
``corpus_version_sensor`` watches the corpora the training jobs train on: a materialization that
published a new version requests a ``shard_plan`` run for each job (partition) on that corpus
(jobs that pin a version are left alone); the run key names job, corpus and version, so a version
is planned once per job.
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg

from assets.partitions import requested_keys, source_partitions
from assets.resources import CorpusmillResource
from assets.selection import SHARD_PLAN_KEY, ingest_selection, staged_key
from corpusmill.compute import TrainingJob
from corpusmill.config import SourcesConfig
from corpusmill.ingest import pending_files


def build_sensors(
    cfg: SourcesConfig,
    jobs: list[TrainingJob] | None = None,
    asset_keys: set[dg.AssetKey] | None = None,
) -> list[dg.SensorDefinition]:
    """The sensors; with ``jobs`` and the graph's ``asset_keys``, also the corpus version sensor."""
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
    sensors: list[dg.SensorDefinition] = [source_files_sensor, automation]
    replan = build_corpus_version_sensor(jobs or [], asset_keys or set())
    return [*sensors, *replan]


def build_corpus_version_sensor(
    jobs: list[TrainingJob], asset_keys: set[dg.AssetKey]
) -> list[dg.SensorDefinition]:
    """``corpus_version_sensor`` over the corpora that unpinned jobs train on (none: no sensor)."""
    if SHARD_PLAN_KEY not in asset_keys:
        return []
    by_corpus: dict[dg.AssetKey, list[str]] = {}
    for j in jobs:
        key = dg.AssetKey(j.corpus)
        if j.version is None and key in asset_keys:
            by_corpus.setdefault(key, []).append(j.name or j.corpus)
    if not by_corpus:
        return []

    @dg.multi_asset_sensor(
        name="corpus_version_sensor",
        monitored_assets=sorted(by_corpus, key=lambda k: k.to_user_string()),
        request_assets=dg.AssetSelection.assets(SHARD_PLAN_KEY),
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Re-plans the shard plan of each training job whose corpus got a new version.",
    )
    def corpus_version_sensor(context: dg.MultiAssetSensorEvaluationContext):
        for key, record in context.latest_materialization_records_by_key().items():
            if record is None:
                continue
            mat = record.event_log_entry.asset_materialization
            meta = mat.metadata if mat is not None else {}
            version = meta.get("version")
            new = meta.get("new_version")
            if version is not None and (new is None or new.value):
                for job in by_corpus[key]:
                    yield dg.RunRequest(
                        run_key=f"{job}:{key.to_user_string()}:v{version.value}",
                        partition_key=job,
                        asset_selection=[SHARD_PLAN_KEY],
                        tags={"corpusmill/trigger": "corpus_version_sensor"},
                    )
            context.advance_cursor({key: record})

    return [corpus_version_sensor]


def hash_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
