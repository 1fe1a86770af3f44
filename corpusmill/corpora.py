"""The corpus registry: every corpus declared once, and how a build becomes a published version.

Each :class:`~corpusmill.corpus.CorpusSpec` names the corpus's inputs, id column, schema, default
settings, builder and exclusion checks; the Dagster assets, the quality suites, the catalog and the
shard planner all read it from :data:`CORPORA`. To add a corpus: write its builder (returning a
:class:`~corpusmill.corpus.BuildResult`) beside its schema and settings, then declare it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from corpusmill import canonical, lake, versions
from corpusmill.corpus import BuildResult, CorpusError, CorpusSpec
from corpusmill.images import EXCLUSION_CHECKS as IMAGE_CHECKS
from corpusmill.images import IMAGE_CORPUS_SCHEMA, ImageConfig, build_image_corpus, store_images
from corpusmill.layout import Lake
from corpusmill.process_quality import EXCLUSION_CHECKS as PROCESS_QUALITY_CHECKS
from corpusmill.process_quality import (
    PROCESS_QUALITY_SCHEMA,
    ProcessQualityConfig,
    build_process_quality,
)
from corpusmill.sft import EXCLUSION_CHECKS as SFT_CHECKS
from corpusmill.sft import SFT_PAIRS_SCHEMA, SftConfig, mine_sft_pairs
from corpusmill.text.corpus import EXCLUSION_CHECKS as TEXT_CHECKS
from corpusmill.text.corpus import TEXT_CORPUS_SCHEMA, TextConfig, build_text_corpus
from corpusmill.windows import EXCLUSION_CHECKS as WINDOW_CHECKS
from corpusmill.windows import WINDOWS_SCHEMA, WindowConfig, build_windows


def _text(inputs: Mapping[str, pl.DataFrame], config: TextConfig) -> BuildResult:
    return build_text_corpus(inputs["documents"], inputs["maintenance_records"], config=config)


def _sft(inputs: Mapping[str, pl.DataFrame], config: SftConfig) -> BuildResult:
    return mine_sft_pairs(inputs["maintenance_records"], config=config)


def _windows(inputs: Mapping[str, pl.DataFrame], config: WindowConfig) -> BuildResult:
    return build_windows(inputs["sensor_readings"], inputs["maintenance_records"], config=config)


def _process_quality(inputs: Mapping[str, pl.DataFrame], config: ProcessQualityConfig) -> BuildResult:
    return build_process_quality(
        inputs["sensor_readings"], inputs["production_events"], inputs["quality_inspections"],
        config=config,
    )


def _images(inputs: Mapping[str, pl.DataFrame], config: ImageConfig) -> BuildResult:
    return build_image_corpus(inputs["inspection_images"], config=config)


CORPORA: dict[str, CorpusSpec] = {
    spec.name: spec
    for spec in (
        CorpusSpec(
            name="text_corpus",
            inputs=("documents", "maintenance_records"),
            id_column="doc_id",
            schema=TEXT_CORPUS_SCHEMA,
            defaults=TextConfig(),
            builder=_text,
            checks=TEXT_CHECKS,
            description="Cleaned, language-tagged, redacted and deduplicated documents and "
            "maintenance texts with token counts.",
        ),
        CorpusSpec(
            name="sft_pairs",
            inputs=("maintenance_records",),
            id_column="pair_id",
            schema=SFT_PAIRS_SCHEMA,
            defaults=SftConfig(),
            builder=_sft,
            checks=SFT_CHECKS,
            description="Instruction/response pairs (symptom to diagnosis and action) mined from "
            "maintenance records.",
        ),
        CorpusSpec(
            name="timeseries_windows",
            inputs=("sensor_readings", "maintenance_records"),
            id_column="window_id",
            schema=WINDOWS_SCHEMA,
            # historian exports sample every few minutes: a 5-minute grid, 1-hour windows every
            # 30 minutes, failures looked for 6 hours ahead
            defaults=WindowConfig(window="1h", step="30m", resample="5m", horizon="6h"),
            builder=_windows,
            checks=WINDOW_CHECKS,
            description="Aligned multichannel sensor windows per machine, labelled by failures "
            "within a horizon and split without leaks.",
        ),
        CorpusSpec(
            name="process_quality",
            inputs=("sensor_readings", "production_events", "quality_inspections"),
            id_column="unit_id",
            schema=PROCESS_QUALITY_SCHEMA,
            defaults=ProcessQualityConfig(),
            builder=_process_quality,
            checks=PROCESS_QUALITY_CHECKS,
            description="One row per batch or work order: per-signal features of its sensor data "
            "joined to its inspection outcome by normalised lot key, split by lot.",
        ),
        CorpusSpec(
            name="image_corpus",
            inputs=("inspection_images",),
            id_column="image_id",
            schema=IMAGE_CORPUS_SCHEMA,
            defaults=ImageConfig(),
            builder=_images,
            checks=IMAGE_CHECKS,
            description="Labelled inspection images without exact or near duplicates, stored once "
            "by content hash and split by lot.",
        ),
    )
}


def corpus(name: str) -> CorpusSpec:
    """The declaration of corpus ``name``; an unknown name lists the known ones."""
    try:
        return CORPORA[name]
    except KeyError:
        msg = f"unknown corpus {name!r}; corpora: {', '.join(CORPORA)}"
        raise CorpusError(msg) from None


def read_inputs(
    lake_root: Path, spec: CorpusSpec
) -> tuple[dict[str, pl.DataFrame], dict[str, int | None]]:
    """The corpus's input tables (absent ones empty) and the Delta version read of each."""
    at = Lake(lake_root)
    frames, read_versions = {}, {}
    for table in spec.inputs:
        path = at.table(table)
        frames[table] = lake.read(path, schema=canonical.schema(table))
        read_versions[table] = lake.open_table(path).version() if lake.exists(path) else None
    return frames, read_versions


def publish(
    lake_root: Path,
    spec: CorpusSpec,
    result: BuildResult,
    *,
    config: Any,
    input_versions: dict[str, int | None],
    quality: dict[str, Any] | None = None,
) -> versions.Published:
    """Publish a build as the corpus's next version (unless identical to the latest) and replace
    its ``<corpus>_excluded`` table."""
    published = versions.publish(
        lake_root, spec.name, result.frame, sort_by=[spec.id_column], inputs=input_versions,
        config=spec.config_dict(config), quality=quality, counts=result.stats,
        card=data_card(spec, result.frame),
    )  # fmt: skip
    lake.overwrite(Lake(lake_root).excluded(spec.name), result.excluded)
    if spec.name == "image_corpus":  # the corpus references its images by hash: store them once
        images = lake.read(Lake(lake_root).table("inspection_images"),
                           schema=canonical.schema("inspection_images"))  # fmt: skip
        store_images(lake_root, images, result.frame)
    return published


def data_card(spec: CorpusSpec, frame: pl.DataFrame) -> dict[str, Any]:
    """The data card of a corpus version: what it is, what it is built from, its make-up."""
    card: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "built_from": list(spec.inputs),
        "rows": frame.height,
        "intended_use": "training and evaluating industrial language / predictive models",
        "provenance": "every row keeps _source/_file/_row of the canonical rows it came from",
    }
    for column, key in (("language", "languages"), ("split", "splits")):
        if column in frame.columns:
            card[key] = dict(frame.group_by(column).len().sort(column).iter_rows())
    if "n_tokens" in frame.columns:
        card["tokens"] = int(frame["n_tokens"].sum() or 0)
    return card
