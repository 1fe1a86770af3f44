"""Validate: run each canonical table's Great Expectations suite; good rows become the table."""


import dagster as dg
import polars as pl

from assets._common import run_id
from assets.standardize import EAGER, standardized_key
from corpusmill import canonical, lake
from corpusmill.config import SourcesConfig
from corpusmill.ingest import quarantine_path
from pipelines.partitions import source_partitions
from pipelines.resources import CorpusmillResource


def build_validate_assets(cfg: SourcesConfig) -> list[dg.AssetsDefinition]:
    return [_validated_asset(t) for t in source_partitions(cfg) if t != "equipment"]


def _validated_asset(table: str) -> dg.AssetsDefinition:
    from quality import checks

    key = dg.AssetKey(table)

    @dg.asset(
        key=key,
        group_name="validate",
        deps=[standardized_key(table)],
        check_specs=checks.check_specs(key, table),
        automation_condition=EAGER,
        kinds={"polars", "delta", "great_expectations"},
        description=f"The canonical {table} table: rows that passed its quality suite.",
    )
    def _asset(context: dg.AssetExecutionContext, corpusmill: CorpusmillResource):
        from quality import reports
        from quality.engine import validate_table

        rows = lake.read(corpusmill.lake / "standardized" / table, schema=canonical.schema(table))
        result = validate_table(rows, table, corpusmill.config, run_id=run_id(context),
                                engine=corpusmill.engine)  # fmt: skip
        lake.overwrite(corpusmill.lake / table, result.good, schema=canonical.schema(table))
        lake.overwrite(quarantine_path(corpusmill.lake, "validate", table), result.quarantine)
        gx_dir = corpusmill.home_dir.gx
        reports.write_results(gx_dir, table, run_id(context), result)
        docs = reports.build_data_docs(gx_dir)
        corpusmill.refresh_catalog()
        written = lake.scan(corpusmill.lake / table).select(pl.len()).collect().item()
        qpath = quarantine_path(corpusmill.lake, "validate", table)
        quarantined = lake.scan(qpath).select(pl.len()).collect().item()
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": written,
                "rows_in": rows.height,
                "rows_quarantined": result.quarantine.height,
                "data_docs": dg.MetadataValue.url(docs.as_uri()),
            },
            check_results=checks.check_results(key, table, result, rows_in=rows.height,
                                               docs_url=docs.as_uri(),
                                               stored=(written, quarantined)),  # fmt: skip
        )

    return _asset

