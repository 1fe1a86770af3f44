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

from corpusmill import canonical, lake, storage, versions
from corpusmill.byequipment import ByEquipment
from corpusmill.corpus import BuildResult, CorpusError, CorpusSpec
from corpusmill.images import EXCLUSION_CHECKS as IMAGE_CHECKS
from corpusmill.images import IMAGE_CORPUS_SCHEMA, ImageConfig, build_image_corpus, store_images
from corpusmill.layout import Lake
from corpusmill.licenses import mixing_warning
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


#: An input as a builder gets it: a frame, or a sensor table by groups of machines.
Input = pl.DataFrame | ByEquipment


def _windows(inputs: Mapping[str, Input], config: WindowConfig) -> BuildResult:
    return build_windows(inputs["sensor_readings"], inputs["maintenance_records"], config=config)


def _process_quality(inputs: Mapping[str, Input], config: ProcessQualityConfig) -> BuildResult:
    return build_process_quality(
        inputs["sensor_readings"], inputs["production_events"], inputs["quality_inspections"],
        config=config,
    )


def _images(inputs: Mapping[str, pl.DataFrame], config: ImageConfig) -> BuildResult:
    return build_image_corpus(inputs["inspection_images"], config=config)


def _store_images(lake_root: Path, frame: pl.DataFrame) -> None:
    """The corpus references its images by hash: their bytes are stored once in the lake."""
    images = lake.read(Lake(lake_root).table("inspection_images"),
                       schema=canonical.schema("inspection_images"))  # fmt: skip
    store_images(lake_root, images, frame)


#: The sensor columns the window and process-quality builders read (they never look at the
#: provenance columns, whose strings are most of a sensor table's memory).
_SENSOR_BUILD_COLUMNS = ("ts_utc", "batch_id", "t_offset_s", "sample_index", "equipment_id",
                         "signal", "value")  # fmt: skip


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
            input_columns={"sensor_readings": _SENSOR_BUILD_COLUMNS},
            by_equipment=("sensor_readings",),
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
            input_columns={"sensor_readings": _SENSOR_BUILD_COLUMNS},
            by_equipment=("sensor_readings",),
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
            store=_store_images,
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
) -> tuple[dict[str, Input], dict[str, int | None]]:
    """The corpus's input tables (absent ones empty) and the Delta version read of each.

    A table listed in the corpus's ``input_columns`` is read with only those columns
    (projection pushdown: the other columns' Parquet pages are never decoded). A table in its
    ``by_equipment`` is not read here: it comes as a :class:`ByEquipment` over the version's scan,
    whose groups the builder reads one at a time, carrying the fingerprint of the commit that
    wrote the version (so an unchanged input costs no pass over it)."""
    at = Lake(lake_root)
    frames: dict[str, Input] = {}
    read_versions: dict[str, int | None] = {}
    for table in spec.inputs:
        path = at.table(table)
        version = lake.open_table(path).version() if lake.exists(path) else None
        cols = spec.input_columns.get(table)
        if version is None:
            empty = canonical.empty(table)
            frames[table] = empty if cols is None else empty.select(cols)
        elif table in spec.by_equipment:
            lf = lake.scan(path, version=version)
            frames[table] = ByEquipment.scan(
                lf if cols is None else lf.select(cols),
                fingerprint=lake.commit_fingerprint(path, version),
            )
        elif cols is None:
            frames[table] = lake.read(path, version=version, schema=canonical.schema(table))
        else:
            frames[table] = lake.scan(path, version=version).select(cols).collect()
        read_versions[table] = version
    return frames, read_versions


#: Manifest ``counts`` key of the fingerprint of the inputs a version was built from.
INPUT_FINGERPRINT = "input_fingerprint"


def input_fingerprint(frames: Mapping[str, Input]) -> str:
    """One sha256 over every input table's rows (in any order; run stamps left out)."""

    def one(f: Input) -> str:
        if isinstance(f, ByEquipment):
            return f.content_fingerprint()
        return lake.fingerprint(f.drop(lake.RUN_STAMPS, strict=False))

    return lake.json_hash({t: one(f) for t, f in sorted(frames.items())})


def build_or_reuse(
    lake_root: Path, spec: CorpusSpec, frames: Mapping[str, Input], config: Any
) -> tuple[BuildResult, bool]:
    """The corpus built from ``frames``, or, when the latest version was built from inputs with
    the same fingerprint, the same settings and the same code version, that version read back
    (``(result, True)``): no stage runs again (no dedup, no tokenizer training), and publishing
    it adds no version. The fingerprint goes into the result's stats (the manifest's counts)."""
    fp = input_fingerprint(frames)
    at = Lake(lake_root)
    latest = versions.latest_manifest(at.table(spec.name))
    tokenizer = at.tokenizer(spec.name, latest["version"]) if latest else None
    if (
        latest is not None
        and latest.get("counts", {}).get(INPUT_FINGERPRINT) == fp
        and latest.get("config_hash") == lake.json_hash(spec.config_dict(config))
        and latest.get("code_version") == versions.code_version()
        and lake.exists(at.excluded(spec.name))
        # a run stopped between the commit and the manifest or tokenizer file builds again,
        # and publishing writes the missing file
        and storage.is_file(at.manifest(spec.name, latest["version"]))
        and ("tokenizer" not in latest["counts"] or storage.is_file(tokenizer))
    ):
        frame = lake.read(at.table(spec.name), version=latest["version"]).select(list(spec.schema))
        files = {"tokenizer": storage.read_text(tokenizer)} if storage.is_file(tokenizer) else {}
        result = BuildResult(
            frame=frame.cast(dict(spec.schema)),
            excluded=lake.read(at.excluded(spec.name)),
            stats=latest["counts"],
            files=files,
            from_version=latest["version"],
        )
        spec.check(result)
        return result, True
    result = spec.build(frames, config)
    result.stats[INPUT_FINGERPRINT] = fp
    return result, False


def publish(
    lake_root: Path,
    spec: CorpusSpec,
    result: BuildResult,
    *,
    config: Any,
    input_versions: dict[str, int | None],
    quality: dict[str, Any] | None = None,
    licenses: Mapping[str, tuple[str | None, str | None]] | None = None,
) -> versions.Published:
    """Publish a build as the corpus's next version (unless identical to the latest) and replace
    its ``<corpus>_excluded`` table. ``licenses`` (source name -> (licence, owner), from
    :meth:`corpusmill.config.SourcesConfig.licenses`) gives the data card each contributing
    source's licence and owner; the card's Markdown is on the result (``card_markdown``)."""
    at = Lake(lake_root)
    if result.from_version is not None:  # the latest version read back: nothing to write
        latest = versions.latest_manifest(at.table(spec.name))
        path = at.manifest(spec.name, result.from_version)
        if latest and latest["version"] == result.from_version and storage.is_file(path):
            card_path = at.data_card(spec.name, result.from_version)
            md = storage.read_text(card_path) if storage.is_file(card_path) else None
            return versions.Published(spec.name, result.from_version, latest["content_hash"],
                                      False, latest, path, md)  # fmt: skip
    card = data_card(spec, result.frame, result=result, licenses=licenses)
    published = versions.publish(
        lake_root, spec.name, result.frame, sort_by=[spec.id_column], inputs=input_versions,
        config=spec.config_dict(config), quality=quality, counts=result.stats,
        card=card, card_markdown=card["markdown"],
    )  # fmt: skip
    lake.overwrite(Lake(lake_root).excluded(spec.name), result.excluded)
    if "tokenizer" in result.files:  # the tokenizer n_tokens were counted with, beside the version
        path = at.tokenizer(spec.name, published.version)
        if not storage.is_file(path) or storage.read_text(path) != result.files["tokenizer"]:
            storage.write_text(path, result.files["tokenizer"])
    if spec.store is not None:
        spec.store(lake_root, result.frame)
    return published


def data_card(
    spec: CorpusSpec,
    frame: pl.DataFrame,
    *,
    result: BuildResult | None = None,
    licenses: Mapping[str, tuple[str | None, str | None]] | None = None,
) -> dict[str, Any]:
    """The data card of a corpus version: what it is, what it is built from, its make-up, the
    licences and owners of the sources that contributed rows, what the filters removed; the
    ``markdown`` key holds it rendered (saved beside the version's manifest)."""
    card: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "built_from": list(spec.inputs),
        "rows": frame.height,
        "intended_use": "training and evaluating industrial language / predictive models",
        "provenance": "every row keeps _source/_file/_row of the canonical rows it came from "
        "(_file relative to the sources file)",
    }
    for column, key in (("language", "languages"), ("split", "splits")):
        if column in frame.columns:
            card[key] = dict(frame.group_by(column).len().sort(column).iter_rows())
    if "n_tokens" in frame.columns:
        card["tokens"] = int(frame["n_tokens"].sum() or 0)
    if "label" in frame.columns:
        balance = frame.group_by("label").len().sort("label").iter_rows()
        card["labels"] = {str(k): v for k, v in balance}
    contributed: dict[str, dict[str, Any]] = {}
    if "_source" in frame.columns:
        for src, n in frame.group_by("_source").len().sort("_source").iter_rows():
            lic, owner = (licenses or {}).get(str(src), (None, None))
            contributed[str(src)] = {"rows": n, "license": lic, "owner": owner}
    card["sources"] = contributed
    card["license_warning"] = mixing_warning([c["license"] for c in contributed.values()]) \
        if contributed else None
    if result is not None:
        ex = result.excluded
        card["excluded"] = (
            dict(ex.group_by("check").len().sort("check").iter_rows())
            if ex.height and "check" in ex.columns else {}
        )  # fmt: skip
        card["stats"] = {k: v for k, v in result.stats.items() if isinstance(v, int | float)}
        if isinstance(result.stats.get("redactions"), dict):  # matches per placeholder
            card["redactions"] = dict(result.stats["redactions"])
    card["limitations"] = [
        "licences are as declared in the sources file; unknown licences are listed as such",
        "rows are only as good as the sources' own data; see the quality results in the manifest",
    ]
    card["markdown"] = render_card(card)
    return card


def render_card(card: dict[str, Any]) -> str:
    """A data card as Markdown."""
    out = [f"# Data card: {card['name']}", "", card["description"], "",
           f"- rows: {card['rows']}", f"- built from: {', '.join(card['built_from'])}",
           f"- intended use: {card['intended_use']}",
           f"- provenance: {card['provenance']}"]  # fmt: skip
    if "tokens" in card:
        out.append(f"- tokens: {card['tokens']}")
    out += ["", "## Sources, licences and owners", "",
            "| source | rows | licence | owner |", "|---|---:|---|---|"]  # fmt: skip
    for name, c in card["sources"].items():
        out.append(f"| {name} | {c['rows']} | {c['license'] or 'unknown'} | "
                   f"{c['owner'] or 'unknown'} |")  # fmt: skip
    if card.get("license_warning"):
        out += ["", f"**{card['license_warning']}**"]
    if card.get("excluded") or card.get("stats"):
        out += ["", "## Filters, dedup and redaction", ""]
        out += [f"- removed by {k}: {v}" for k, v in card.get("excluded", {}).items()]
        out += [f"- {k}: {v}" for k, v in card.get("stats", {}).items()]
    if card.get("redactions"):
        out += ["", "## Redactions per placeholder", "",
                "| placeholder | matches redacted |", "|---|---:|"]  # fmt: skip
        out += [f"| {k} | {v} |" for k, v in card["redactions"].items()]
    for key, title in (("splits", "Splits"), ("labels", "Label balance"),
                       ("languages", "Languages")):  # fmt: skip
        if card.get(key):
            out += ["", f"## {title}", ""] + [f"- {k}: {v}" for k, v in card[key].items()]
    out += ["", "## Known limitations", ""] + [f"- {x}" for x in card["limitations"]]
    return "\n".join(out) + "\n"
