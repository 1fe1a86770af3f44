"""Validate: run each canonical table's Great Expectations suite; good rows become the table."""


import dagster as dg

from assets.automation import EAGER, TABLE_FRESHNESS
from assets.metadata import run_id, table_metadata
from assets.resources import CorpusmillResource
from assets.selection import standardized_key
from corpusmill import layout
from corpusmill.config import SourcesConfig
from quality import checks


def build_validate_assets(cfg: SourcesConfig) -> list[dg.AssetsDefinition]:
    return [_validated_asset(t) for t in cfg.ingested_sources()]


def _validated_asset(table: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(table)

    @dg.asset(
        key=key,
        group_name="validate",
        deps=[standardized_key(table)],
        check_specs=checks.check_specs(key, table),
        automation_condition=EAGER,
        freshness_policy=TABLE_FRESHNESS,
        kinds={"polars", "delta", "great_expectations"},
        description=f"The canonical {table} table: rows that passed its quality suite.",
    )
    def _asset(context: dg.AssetExecutionContext, corpusmill: CorpusmillResource):
        from quality.publish import validate_canonical

        out = validate_canonical(corpusmill.config, corpusmill.lake, corpusmill.home_dir.gx, table,
                                 run_id=run_id(context), engine=corpusmill.engine)  # fmt: skip
        corpusmill.refresh_catalog([table, layout.QUARANTINE_VIEW])
        return dg.MaterializeResult(
            metadata={
                **table_metadata(out.validation.good),
                "dagster/row_count": out.stored[0],
                "rows_in": out.rows_in,
                "rows_quarantined": out.validation.rows_quarantined,
                "data_docs": dg.MetadataValue.url(out.docs_url),
            },
            check_results=checks.check_results(key, table, out.validation, rows_in=out.rows_in,
                                               docs_url=out.docs_url, stored=out.stored),  # fmt: skip
        )

    return _asset
