"""Corpora: versioned Delta tables compiled from the validated canonical tables."""


import dagster as dg

from assets.automation import CORPUS_FRESHNESS, EAGER
from assets.metadata import frame_md, run_id, table_metadata
from assets.resources import CorpusmillResource
from corpusmill import layout
from corpusmill.config import SourcesConfig
from corpusmill.corpora import CORPORA, build_or_reuse, publish, read_inputs
from corpusmill.corpus import CorpusSpec
from quality import checks


def build_corpora_assets(cfg: SourcesConfig) -> list[dg.AssetsDefinition]:
    fed = set(cfg.ingested_sources())
    return [_corpus_asset(spec) for spec in CORPORA.values() if fed.intersection(spec.inputs)]


def _corpus_asset(spec: CorpusSpec) -> dg.AssetsDefinition:
    key = dg.AssetKey(spec.name)

    @dg.asset(
        key=key,
        group_name="corpora",
        deps=[dg.AssetKey(t) for t in spec.inputs],
        check_specs=checks.check_specs(key, spec.name),
        automation_condition=EAGER,
        freshness_policy=CORPUS_FRESHNESS,
        kinds={"polars", "delta"},
        description=spec.description,
    )
    def _asset(context: dg.AssetExecutionContext, corpusmill: CorpusmillResource):
        from quality.engine import validate_table
        from quality.publish import manifest_summary

        frames, input_versions = read_inputs(corpusmill.lake, spec)
        missing = spec.missing_inputs({t: f.height for t, f in frames.items()})
        if missing is not None:
            context.log.warning(f"{spec.name}: {missing}")
            return dg.MaterializeResult(
                metadata={"skipped": missing, "dagster/row_count": 0},
                check_results=checks.skipped_results(key, spec.name, missing),
            )
        config = corpusmill.config.corpus_config(spec.name)
        result, reused = build_or_reuse(corpusmill.lake, spec, frames, config)
        if reused:
            context.log.info(f"{spec.name}: inputs and settings unchanged; the latest version is reused")
        validation = validate_table(result.frame, spec.name, None, run_id=run_id(context),
                                    engine=corpusmill.engine)  # fmt: skip
        check_results = checks.check_results(key, spec.name, validation,
                                             rows_in=result.frame.height, docs_url=None)  # fmt: skip
        blocking = [c for c in check_results if c.severity == dg.AssetCheckSeverity.ERROR]
        if not all(c.passed for c in blocking):
            raise dg.Failure(
                f"{spec.name}: the corpus suite failed; no version published",
                metadata={"failed": [c.check_name for c in check_results if not c.passed]},
            )
        published = publish(corpusmill.lake, spec, result, config=config,
                            input_versions=input_versions,
                            quality=manifest_summary(validation),
                            licenses=corpusmill.config.licenses())  # fmt: skip
        corpusmill.refresh_catalog([spec.name, layout.excluded_view(spec.name)])
        context.log.info(
            f"{spec.name}: version {published.version} "
            f"({'new' if published.created else 'unchanged'})"
        )
        return dg.MaterializeResult(
            metadata={
                **table_metadata(result.frame),
                "data_card": dg.MetadataValue.md(published.card_markdown or ""),
                "version": published.version,
                "new_version": published.created,
                "content_hash": published.content_hash,
                "excluded": result.excluded.height,
                "manifest": dg.MetadataValue.path(str(published.manifest_path)),
                "excluded_by_reason": frame_md(spec.excluded_by_check(result.excluded)),
            },
            check_results=check_results,
        )

    return _asset
