"""Schedules: a nightly sweep of every source, for plants that drop files without telling anyone.

One schedule per ingest job: each ingest asset is partitioned by its own sources, so a single job
cannot span them. Unchanged files are skipped cheaply (size and mtime, then sha256).
"""

from __future__ import annotations

import dagster as dg

from assets.partitions import requested_keys, sources_of
from corpusmill.config import SourcesConfig


def build_schedules(
    ingest_jobs: list[dg.UnresolvedAssetJobDefinition], cfg: SourcesConfig | None = None
) -> list[dg.ScheduleDefinition]:
    return [_nightly(job, cfg) for job in ingest_jobs]


def _nightly(
    job: dg.UnresolvedAssetJobDefinition, cfg: SourcesConfig | None
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"nightly_{job.name}",
        cron_schedule="0 2 * * *",
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"At 02:00 UTC: run {job.name} for every source (one run per source).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time.strftime("%Y-%m-%d")
        partitions = job.partitions_def
        keys = partitions.get_partition_keys() if partitions is not None else []
        if cfg is not None and isinstance(partitions, dg.MultiPartitionsDefinition):
            # a split table: each part of a split source, and every other source whole
            keys = [k for s in sources_of(partitions) for k in requested_keys(cfg, partitions, s)]
        for key in keys:
            yield dg.RunRequest(run_key=f"{day}:{key}", partition_key=key)

    return _schedule
