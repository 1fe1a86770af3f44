"""Ingest: one asset per canonical table, partitioned by the sources that feed it (and, for a
table with a busy source split by day or file group, by source × part: see assets.partitions)."""


import warnings

import dagster as dg

from assets.automation import INGEST_RETRY, is_transient, not_retried
from assets.metadata import run_id, table_md
from assets.partitions import runs_of, source_partitions
from assets.resources import CorpusmillResource
from assets.selection import INGEST_GROUP, staged_key
from corpusmill import layout
from corpusmill.config import SourcesConfig
from corpusmill.ingest import ingest_source, part_conservation

#: The union views every ingest run writes to, besides its sources' staged tables.
_INGEST_VIEWS = (layout.QUARANTINE_VIEW, layout.LEDGER_VIEW, layout.ALIASES_VIEW)


def build_ingest_assets(cfg: SourcesConfig) -> list[dg.AssetsDefinition]:
    return [_ingest_asset(table, parts) for table, parts in source_partitions(cfg).items()]


def _ingest_asset(table: str, parts: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    key = staged_key(table)
    conservation_spec = dg.AssetCheckSpec(
        "conservation", asset=key, description="units in = rows kept + rows quarantined"
    )

    def _asset(context: dg.AssetExecutionContext, corpusmill: CorpusmillResource):
        cfg = corpusmill.config
        results = []
        todo = runs_of(cfg, list(context.partition_keys), parts)
        for name, part in todo:
            where = name if part is None else f"{name}|{part}"
            try:
                res = ingest_source(cfg, cfg.source(name), corpusmill.lake, run_id=run_id(context),
                                    progress=context.log.info, part=part)  # fmt: skip
            except Exception as exc:
                if is_transient(exc):
                    raise  # retried by INGEST_RETRY (a rerun skips the files already committed)
                raise not_retried(exc, partition=where) from exc
            results.append(res)
            context.log.info(f"{where}: {res.summary()}")
        names = sorted({name for name, _ in todo})
        corpusmill.refresh_catalog([*map(layout.staged_view, names), *_INGEST_VIEWS])
        summaries = [r.summary() for r in results]
        # independent counts: what the readers delivered against what the lake now holds
        counts = [part_conservation(cfg, cfg.source(name), corpusmill.lake, part)
                  for name, part in todo]  # fmt: skip
        units_in = sum(c["units_in"] for c in counts)
        kept = sum(c["rows_kept"] for c in counts)
        quarantined = sum(c["rows_quarantined"] for c in counts)
        return dg.MaterializeResult(
            metadata={
                "units_in": units_in,
                "rows_kept": kept,
                "rows_quarantined": quarantined,
                "sources": table_md(
                    [{k: v for k, v in s.items() if k != "files_by_status"} for s in summaries]
                ),
                "files": table_md(
                    [{"source": r.source, "file": f.file.rsplit("/", 1)[-1], "status": f.status,
                      "encoding": f.encoding, "in": f.units_in, "kept": f.rows_kept,
                      "quarantined": f.rows_quarantined} for r in results for f in r.files],
                    limit=50,
                ),  # fmt: skip
                "dagster/row_count": kept,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="conservation",
                    passed=units_in == kept + quarantined,
                    metadata={"units_in": units_in, "rows_kept": kept,
                              "rows_quarantined": quarantined},
                )  # fmt: skip
            ],
        )

    with warnings.catch_warnings():
        # single-run backfills over all sources of a table are the point; Dagster marks it beta
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.asset(
            key=key,
            group_name=INGEST_GROUP,
            partitions_def=parts,
            backfill_policy=dg.BackfillPolicy.single_run(),
            retry_policy=INGEST_RETRY,
            check_specs=[conservation_spec],
            kinds={"polars", "delta"},
            description=f"Rows of each source feeding {table}, mapped to the canonical model.",
        )(_asset)
