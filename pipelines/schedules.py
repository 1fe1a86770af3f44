"""Schedules: a nightly sweep of every source, for plants that drop files without telling anyone."""

from __future__ import annotations

import dagster as dg

from corpusmill.canonical import KIND_TABLE
from corpusmill.config import SourcesConfig


def build_schedules(cfg: SourcesConfig) -> list[dg.ScheduleDefinition]:
    by_table: dict[str, list[str]] = {}
    for s in cfg.sources:
        if KIND_TABLE[s.kind] != "equipment":
            by_table.setdefault(KIND_TABLE[s.kind], []).append(s.name)

    @dg.schedule(
        name="nightly_ingest",
        cron_schedule="0 2 * * *",
        target=dg.AssetSelection.groups("ingest"),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="At 02:00 UTC: ingest every source (unchanged files are skipped cheaply).",
    )
    def nightly_ingest(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time.strftime("%Y-%m-%d")
        for table, names in sorted(by_table.items()):
            for name in sorted(names):
                yield dg.RunRequest(
                    run_key=f"{day}:{name}",
                    partition_key=name,
                    asset_selection=[dg.AssetKey(f"staged_{table}")],
                )

    return [nightly_ingest]
