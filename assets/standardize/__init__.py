"""Standardize: the equipment table, and each canonical table with exact duplicates set aside."""


import dagster as dg

from assets._common import frame_md, run_id
from assets.ingest import staged_key
from corpusmill import canonical, lake
from corpusmill.config import SourcesConfig
from corpusmill.ingest import quarantine_path
from corpusmill.standardize import dedupe, equipment_table, read_staged
from pipelines.partitions import source_partitions
from pipelines.resources import CorpusmillResource

EAGER = dg.AutomationCondition.eager()


def standardized_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(f"standardized_{table}")


def build_standardize_assets(cfg: SourcesConfig) -> list[dg.AssetsDefinition]:
    tables = [t for t in source_partitions(cfg) if t != "equipment"]
    return [_equipment_asset(tables)] + [_standardized_asset(t) for t in tables]


def _equipment_asset(tables: list[str]) -> dg.AssetsDefinition:
    @dg.asset(
        name="equipment",
        group_name="standardize",
        deps=[staged_key(t) for t in tables],
        automation_condition=EAGER,
        kinds={"polars", "delta"},
    )
    def equipment(context: dg.AssetExecutionContext, corpusmill: CorpusmillResource):
        """Every physical machine once, with every alias seen in any source."""
        table, suggestions = equipment_table(corpusmill.config, corpusmill.lake)
        lake.overwrite(corpusmill.lake / "equipment", table, schema=canonical.schema("equipment"))
        lake.overwrite(corpusmill.lake / "equipment_suggestions", suggestions)
        corpusmill.refresh_catalog()
        if suggestions.height:
            context.log.warning(
                f"{suggestions.height} unknown equipment alias(es); see equipment_suggestions"
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": table.height,
                "unknown_aliases": suggestions.height,
                "suggestions": frame_md(suggestions.drop("sources")),
            }
        )

    return equipment


def _standardized_asset(table: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=standardized_key(table),
        group_name="standardize",
        deps=[staged_key(table)],
        automation_condition=EAGER,
        kinds={"polars", "delta"},
        description=f"{table} from every source, exact duplicates set aside.",
    )
    def _asset(context: dg.AssetExecutionContext, corpusmill: CorpusmillResource):
        cfg = corpusmill.config
        sources = [s.name for s in cfg.sources if canonical.KIND_TABLE[s.kind] == table]
        staged = read_staged(corpusmill.lake, sources, table)
        kept, dups = dedupe(staged, table, run_id=run_id(context))
        lake.overwrite(corpusmill.lake / "standardized" / table, kept,
                       schema=canonical.schema(table))  # fmt: skip
        lake.overwrite(quarantine_path(corpusmill.lake, "standardize", table), dups)
        corpusmill.refresh_catalog()
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": kept.height,
                "rows_in": staged.height,
                "duplicates_quarantined": dups.height,
            }
        )

    return _asset
