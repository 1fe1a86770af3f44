"""Standardize: the equipment table, and each canonical table with exact duplicates set aside."""


import dagster as dg

from assets.automation import EAGER
from assets.metadata import frame_md, run_id
from assets.resources import CorpusmillResource
from assets.selection import staged_key, standardized_key
from corpusmill import layout
from corpusmill.config import SourcesConfig
from corpusmill.standardize import standardize_table, write_equipment


def build_standardize_assets(cfg: SourcesConfig) -> list[dg.AssetsDefinition]:
    tables = list(cfg.ingested_sources())
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
        table, suggestions = write_equipment(corpusmill.config, corpusmill.lake)
        corpusmill.refresh_catalog(["equipment", layout.EQUIPMENT_SUGGESTIONS])
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
        rows_in, kept, dups = standardize_table(corpusmill.config, corpusmill.lake, table,
                                                run_id=run_id(context))  # fmt: skip
        corpusmill.refresh_catalog([layout.standardized_view(table), layout.QUARANTINE_VIEW])
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": kept,
                "rows_in": rows_in,
                "duplicates_quarantined": dups.height,
            }
        )

    return _asset
