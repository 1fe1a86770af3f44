"""Corpora: versioned Delta tables compiled from the validated canonical tables."""


from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import dagster as dg
import polars as pl

from assets._common import frame_md, run_id
from assets.standardize import EAGER
from corpusmill import canonical, lake, versions
from corpusmill.config import SourcesConfig
from pipelines.partitions import source_partitions
from pipelines.resources import CorpusmillResource

#: corpus -> (canonical inputs, id column)
CORPORA: dict[str, tuple[tuple[str, ...], str]] = {
    "text_corpus": (("documents", "maintenance_records"), "doc_id"),
    "sft_pairs": (("maintenance_records",), "pair_id"),
    "timeseries_windows": (("sensor_readings", "maintenance_records"), "window_id"),
}


def _build_text(inputs: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame, dict, dict]:
    from corpusmill.text import TextConfig, build_text_corpus

    cfg = TextConfig()
    r = build_text_corpus(inputs["documents"], inputs["maintenance_records"], config=cfg)
    return r.corpus, r.excluded, r.stats, asdict(cfg)


def _build_sft(inputs: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame, dict, dict]:
    from corpusmill.sft import mine_sft_pairs

    pairs, excluded = mine_sft_pairs(inputs["maintenance_records"])
    return pairs, excluded, {"in": inputs["maintenance_records"].height, "pairs": pairs.height,
                             "excluded": excluded.height}, {"redact": True, "min_chars": 8}  # fmt: skip


def _build_windows(inputs: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame, dict, dict]:
    from corpusmill.windows import WindowConfig, build_windows

    # historian exports sample every few minutes: a 5-minute grid, 1-hour windows, 6-hour horizon
    cfg = WindowConfig(window="1h", step="30m", resample="5m", horizon="6h")
    r = build_windows(inputs["sensor_readings"], inputs["maintenance_records"], config=cfg)
    return r.windows, r.excluded, r.stats, asdict(cfg)


BUILDERS: dict[str, Callable[[dict[str, pl.DataFrame]], tuple[pl.DataFrame, pl.DataFrame, dict, dict]]] = {
    "text_corpus": _build_text,
    "sft_pairs": _build_sft,
    "timeseries_windows": _build_windows,
}


def build_corpora_assets(cfg: SourcesConfig) -> list[dg.AssetsDefinition]:
    fed = set(source_partitions(cfg))
    return [
        _corpus_asset(name, inputs, id_col)
        for name, (inputs, id_col) in CORPORA.items()
        if any(t in fed for t in inputs)
    ]


def _corpus_asset(name: str, inputs: tuple[str, ...], id_col: str) -> dg.AssetsDefinition:
    from quality import checks

    key = dg.AssetKey(name)

    @dg.asset(
        key=key,
        group_name="corpora",
        deps=[dg.AssetKey(t) for t in inputs],
        check_specs=checks.check_specs(key, name),
        automation_condition=EAGER,
        kinds={"polars", "delta"},
        description=f"The {name} corpus: one Delta version per distinct build, with a manifest.",
    )
    def _asset(context: dg.AssetExecutionContext, corpusmill: CorpusmillResource):
        from quality.engine import validate_table

        frames, input_versions = {}, {}
        for t in inputs:
            path = corpusmill.lake / t
            frames[t] = lake.read(path, schema=canonical.schema(t))
            input_versions[t] = lake.open_table(path).version() if lake.exists(path) else None
        corpus, excluded, stats, config = BUILDERS[name](frames)
        result = validate_table(corpus, name, None, run_id=run_id(context), engine=corpusmill.engine)
        check_results = checks.check_results(key, name, result, rows_in=corpus.height,
                                             docs_url=None)  # fmt: skip
        if not all(c.passed for c in check_results if c.severity == dg.AssetCheckSeverity.ERROR):
            raise dg.Failure(
                f"{name}: the corpus suite failed; no version published",
                metadata={"failed": [c.check_name for c in check_results if not c.passed]},
            )
        published = versions.publish(
            corpusmill.lake / name, corpus, corpus=name, sort_by=[id_col], inputs=input_versions,
            config=config, quality=_quality_summary(result), counts=stats,
            card=_card(name, corpus, stats, inputs),
        )  # fmt: skip
        lake.overwrite(corpusmill.lake / f"{name}_excluded", excluded)
        corpusmill.refresh_catalog()
        context.log.info(
            f"{name}: version {published.version} ({'new' if published.created else 'unchanged'})"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": corpus.height,
                "version": published.version,
                "new_version": published.created,
                "content_hash": published.content_hash,
                "excluded": excluded.height,
                "manifest": dg.MetadataValue.path(str(published.manifest_path)),
                "excluded_by_reason": frame_md(_by_reason(excluded)),
            },
            check_results=check_results,
        )

    return _asset


def _by_reason(excluded: pl.DataFrame) -> pl.DataFrame:
    col = "check" if "check" in excluded.columns else "reason"
    if col not in excluded.columns or excluded.height == 0:
        return pl.DataFrame({"reason": [], "rows": []})
    return excluded.group_by(col).agg(pl.len().alias("rows")).sort("rows", descending=True)


def _quality_summary(result: Any) -> dict[str, Any]:
    return {
        "rows_in": result.rows_in,
        "rows_kept": result.rows_kept,
        "rows_quarantined": result.rows_quarantined,
        "expectations": result.summary.to_dicts() if hasattr(result.summary, "to_dicts") else [],
    }


def _card(name: str, corpus: pl.DataFrame, stats: dict, inputs: tuple[str, ...]) -> dict[str, Any]:
    card: dict[str, Any] = {
        "name": name,
        "built_from": list(inputs),
        "rows": corpus.height,
        "intended_use": "training and evaluating industrial language / predictive models",
        "provenance": "every row keeps _source/_file/_row of the canonical rows it came from",
    }
    if "language" in corpus.columns:
        card["languages"] = dict(corpus.group_by("language").len().sort("language").iter_rows())
    if "split" in corpus.columns:
        card["splits"] = dict(corpus.group_by("split").len().sort("split").iter_rows())
    if "n_tokens" in corpus.columns:
        card["tokens"] = int(corpus["n_tokens"].sum() or 0)
    return card
