"""The sources file (``sources.yaml``): schema, loading and path resolution.

The top-level models and :func:`load` live here; the blocks a source is made of are in
:mod:`corpusmill.config.blocks`, the checks of single values in :mod:`corpusmill.config.checks`.

A plant engineer describes each messy export in a few lines of YAML; this module validates that
description before any data is read. Unknown keys are refused, and every error names the source,
the field and the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from corpusmill import canonical
from corpusmill.config.blocks import (
    BatchSpec,
    ExpectationOverride,
    JoinSpec,
    PartitionBy,
    QualityOverrides,
    ReadOptions,
    SidecarSpec,
    TagSpec,
    TimeSpec,
    WideSpec,
    _Strict,
)
from corpusmill.config.checks import (
    DOCUMENT_FORMATS,
    EQUIPMENT_ID,
    SOURCE_NAME,
    TABLE_FORMATS,
    ConfigError,
    Format,
    Kind,
    Shape,
    check_columns,
    check_encoding,
    check_time_format,
    check_unit,
    check_units,
    check_zone,
)
from corpusmill.yamlfile import by_name, load_model, matching


class Source(_Strict):
    name: str = Field(description="unique, lower_snake_case; the Dagster partition key")
    site: str
    license: str | None = Field(default=None, description="SPDX id or free text (else the site's)")
    owner: str | None = Field(default=None, description="who owns the data (else the site's)")
    kind: Kind
    path: str = Field(
        min_length=1, description="file, glob or folder, relative to the sources file, or s3://"
    )
    format: Format
    read: ReadOptions = Field(default_factory=ReadOptions)
    shape: Shape = "long"
    fields: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> source column"
    )
    constants: dict[str, Any] = Field(
        default_factory=dict, description="canonical field -> a value for every row"
    )
    unit_aliases: dict[str, str] = Field(
        default_factory=dict,
        description="delivered unit spelling -> the unit it means (pint syntax), e.g. {F: degF} "
        "for an export that writes F for degree Fahrenheit; applies to units, signal_units, tag "
        "units and unit columns",
    )
    units: dict[str, str] = Field(
        default_factory=dict,
        description="canonical numeric field -> the unit its source column is in (pint syntax)",
    )
    signal_units: dict[str, str] = Field(
        default_factory=dict, description="long sensor data without a unit column: signal -> unit"
    )
    signals: dict[str, str] = Field(
        default_factory=dict, description="source signal/tag name -> canonical signal name"
    )
    time: TimeSpec = Field(default_factory=TimeSpec)
    wide: WideSpec | None = None
    batch: BatchSpec | None = None
    join: list[JoinSpec] = Field(default_factory=list)
    sidecar: SidecarSpec | None = None
    equipment: str | None = Field(
        None, description="equipment alias for every row when the data names none"
    )
    on_unknown_equipment: Literal["quarantine", "keep"] = Field(
        "quarantine",
        description="rows naming an alias the registry lacks: quarantine them with a suggestion, "
        "or keep them under '<site>/unregistered/-/<alias>'",
    )
    quality: QualityOverrides = Field(default_factory=dict)
    allow_empty: bool = Field(
        False,
        description="a path that matches no file is a warning, not an error (an export that is "
        "not delivered yet)",
    )
    partition_by: PartitionBy | None = Field(
        None,
        description="split a busy source further: {day: '<regex with one date group>'} or "
        "{file_groups: N}; each part ingests as its own Dagster partition",
    )

    _name = field_validator("name")(
        matching(SOURCE_NAME, "lower_snake_case (letters, digits, _; starting with a letter)")
    )

    @field_validator("fields", "constants")
    @classmethod
    def _canonical_keys(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        check_columns(v, info, info.field_name or "fields")
        return v

    @field_validator("unit_aliases")
    @classmethod
    def _alias_targets(cls, v: dict[str, str]) -> dict[str, str]:
        for spelling, unit in v.items():
            try:
                check_unit(unit)
            except ValueError as e:
                raise ValueError(f"unit_aliases.{spelling}: {e}") from None
        return v

    @field_validator("units")
    @classmethod
    def _unit_keys_and_values(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        aliases = info.data.get("unit_aliases") or {}
        problems = []
        for check in (lambda: check_columns(v, info, "units", numeric=True),
                      lambda: check_units(v, aliases)):  # fmt: skip
            try:
                check()
            except ValueError as e:
                problems.append(str(e))
        if problems:
            raise ValueError("; ".join(problems))
        return v

    @field_validator("signal_units")
    @classmethod
    def _signal_units(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return check_units(v, info.data.get("unit_aliases") or {})

    @field_validator("wide", "batch")
    @classmethod
    def _tag_units(cls, v: WideSpec | BatchSpec | None, info: ValidationInfo) -> Any:
        # a tag's ambiguous unit (F, C) passes its own block's check; here it needs an alias
        if v is not None:
            units = {f"tags.{t}.unit": ts.unit for t, ts in v.tags.items() if ts.unit}
            check_units(units, info.data.get("unit_aliases") or {})
        return v

    @model_validator(mode="after")
    def _shape_fits(self) -> Source:
        if self.shape == "wide" and self.wide is None:
            raise ValueError("shape: wide needs a 'wide' block (time_column, tags)")
        if self.shape == "batch" and self.batch is None:
            raise ValueError("shape: batch needs a 'batch' block (batch_column, offset_column)")
        if self.shape != "long" and self.kind != "sensor":
            raise ValueError(f"shape: {self.shape} applies to kind: sensor only")
        if self.kind == "image" and self.format != "images":
            raise ValueError("kind: image needs format: images")
        if self.format == "images" and self.sidecar is None:
            raise ValueError("format: images needs a 'sidecar' labels file")
        if self.sidecar is not None and self.format != "images":
            raise ValueError("a 'sidecar' labels file applies to format: images only")
        if self.join and self.format not in TABLE_FORMATS:
            raise ValueError(f"'join' needs a source with rows; format: {self.format} has none")
        if self.format == "sqlite" and not self.read.query:
            raise ValueError("format: sqlite needs read.query (the SELECT to run)")
        if self.format in DOCUMENT_FORMATS and self.kind != "document":
            raise ValueError(f"format: {self.format} is for kind: document")
        return self


class Site(_Strict):
    timezone: str = "UTC"
    license: str | None = Field(default=None, description="SPDX id or free text; sources inherit")
    owner: str | None = Field(default=None, description="who owns the site's data")
    quality: QualityOverrides = Field(default_factory=dict)

    _zone = field_validator("timezone")(lambda v: check_zone(v))


class EquipmentEntry(_Strict):
    id: str = Field(description="ISA-95 path site/area/line/unit, lower-case")
    name: str | None = None
    type: str | None = None
    aliases: list[str] = Field(default_factory=list)

    _isa95 = field_validator("id")(
        matching(EQUIPMENT_ID, "an ISA-95 path 'site/area/line/unit' (lower-case, 4 parts)")
    )


class SourcesConfig(_Strict):
    version: Literal[1] = 1
    data_roots: list[str] = Field(
        default_factory=lambda: ["."],
        description="folders (relative to this file) or s3:// prefixes that sources may read from",
    )
    sites: dict[str, Site] = Field(default_factory=dict)
    equipment: list[EquipmentEntry] = Field(default_factory=list)
    quality: QualityOverrides = Field(default_factory=dict)
    corpora: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="settings per corpus (corpora.<name>.<setting>); see docs/corpora.md",
    )
    sources: Annotated[list[Source], Field(min_length=1)]

    # Set by load(): the folder relative paths are resolved against. Not part of the YAML.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> SourcesConfig:
        seen: set[str] = set()
        for s in self.sources:
            if s.name in seen:
                raise ValueError(f"source name {s.name!r} is used twice; names must be unique")
            seen.add(s.name)
            if self.sites and s.site not in self.sites:
                raise ValueError(
                    f"source {s.name!r}: site {s.site!r} is not declared under 'sites' "
                    f"(declared: {', '.join(sorted(self.sites))})"
                )
        ids: set[str] = set()
        aliases: dict[str, str] = {}
        for e in self.equipment:
            if e.id in ids:
                raise ValueError(f"equipment id {e.id!r} is declared twice")
            ids.add(e.id)
            for a in [e.id, e.name, *e.aliases]:
                if a is None:
                    continue
                key = normalize_alias(a)
                if key in aliases and aliases[key] != e.id:
                    raise ValueError(
                        f"equipment alias {a!r} names both {aliases[key]!r} and {e.id!r}"
                    )
                aliases[key] = e.id
        return self

    @model_validator(mode="after")
    def _corpus_settings(self) -> SourcesConfig:
        if self.corpora:  # the registry loads only when a corpus is configured
            for name in self.corpora:
                self.corpus_config(name)  # an unknown corpus, setting or value fails here
        return self

    # -- helpers -----------------------------------------------------------------------------

    def corpus_config(self, name: str) -> Any:
        """The settings corpus ``name`` is built with: its defaults, then ``corpora.<name>``.

        The confidential terms declared under ``corpora.text_corpus.confidential`` also apply to
        every other corpus that redacts (has a ``confidential`` setting) and declares none."""
        from dataclasses import fields

        from corpusmill.config.blocks import with_tokenizer_path
        from corpusmill.corpora import corpus

        spec = corpus(name)
        settings = dict(self.corpora.get(name) or {})
        shared = (self.corpora.get("text_corpus") or {}).get("confidential")
        redacts = any(f.name == "confidential" for f in fields(spec.defaults))
        if shared and redacts and "confidential" not in settings:
            settings["confidential"] = shared
        return with_tokenizer_path(spec.resolve(settings), self.base_dir)

    def source(self, name: str) -> Source:
        return by_name(self.sources, name, "source")

    def sources_of_kind(self, kind: str) -> list[Source]:
        return [s for s in self.sources if s.kind == kind]

    def table_of(self, source: Source) -> str | None:
        """The canonical table a source's rows are ingested into (None for the equipment kind,
        which is read from the registry, not ingested)."""
        table = canonical.KIND_TABLE[source.kind]
        return table if table in canonical.INGESTED_TABLES else None

    def ingested_sources(self) -> dict[str, list[str]]:
        """Ingested canonical table -> the names of the sources that feed it, sorted; tables in
        canonical order, only those some source feeds."""
        fed: dict[str, list[str]] = {}
        for s in self.sources:
            table = self.table_of(s)
            if table is not None:
                fed.setdefault(table, []).append(s.name)
        return {t: sorted(fed[t]) for t in canonical.INGESTED_TABLES if t in fed}

    def licenses(self) -> dict[str, tuple[str | None, str | None]]:
        """Source name -> (licence, owner), for the data cards."""
        return {s.name: self.license_of(s) for s in self.sources}

    def license_of(self, source: Source) -> tuple[str | None, str | None]:
        """(licence, owner) of a source: its own, else its site's."""
        site = self.sites.get(source.site)
        return (source.license or (site.license if site else None),
                source.owner or (site.owner if site else None))  # fmt: skip

    def timezone_for(self, source: Source) -> str:
        if source.time.timezone:
            return source.time.timezone
        site = self.sites.get(source.site)
        return site.timezone if site else "UTC"

    def quality_overrides(self, source: Source | None = None) -> QualityOverrides:
        """Overrides in force for a source: global, then its site's, then its own (last wins)."""
        merged: dict[str, dict[str, ExpectationOverride]] = {}
        layers = [self.quality]
        if source is not None:
            site = self.sites.get(source.site)
            layers += [site.quality if site else {}, source.quality]
        for layer in layers:
            for table, exps in layer.items():
                for name, ov in exps.items():
                    prev = merged.setdefault(table, {}).get(name)
                    if prev is None:
                        merged[table][name] = ov
                    else:
                        upd = {k: v for k, v in ov.model_dump().items() if v is not None}
                        merged[table][name] = prev.model_copy(update=upd)
        return merged

    def alias_map(self) -> dict[str, str]:
        """Normalised alias -> equipment id, for every declared id, name and alias."""
        out: dict[str, str] = {}
        for e in self.equipment:
            for a in [e.id, e.name, *e.aliases]:
                if a is not None:
                    out[normalize_alias(a)] = e.id
        return out

    def data_root_paths(self) -> list[str]:
        """Data roots as absolute local paths or s3:// URIs."""
        return [r if is_uri(r) else str((self.base_dir / r).resolve()) for r in self.data_roots]


def normalize_alias(alias: str) -> str:
    """The form aliases are compared in: NFKC (full-width to half-width), case-folded, trimmed."""
    import unicodedata

    return unicodedata.normalize("NFKC", alias).strip().casefold()


def is_uri(path: str) -> bool:
    return "://" in path


def load(path: str | Path) -> SourcesConfig:
    """Load and validate a sources file.

    Raises
    ------
    ConfigError
        The file is missing, not YAML, or breaks the schema. The message names the file and, for
        each problem, the source (by name) and the field.
    """
    path = Path(path)
    cfg = load_model(path, SourcesConfig, "sources file", ConfigError, named="sources")
    _warn_unknown_licenses(path, cfg)
    cfg = cfg.model_copy(update={"base_dir": path.resolve().parent})
    _check_corpus_files(path, cfg)
    return cfg


def _check_corpus_files(path: Path, cfg: SourcesConfig) -> None:
    """The files corpus settings name (a text corpus's tokenizer.json) exist and load."""
    from corpusmill.config.blocks import tokenizer_problem

    for name in cfg.corpora:
        problem = tokenizer_problem(cfg.corpus_config(name), f"corpora.{name}.tokenizer")
        if problem:
            raise ConfigError(f"{path}: {problem}")


def _warn_unknown_licenses(path: Path, cfg: SourcesConfig) -> None:
    """Warn (not refuse) about licence values that look like SPDX ids this table does not know."""
    import warnings

    from corpusmill.licenses import unknown_spdx

    named = [(f"site {k!r}", v.license) for k, v in cfg.sites.items()]
    named += [(f"source {s.name!r}", s.license) for s in cfg.sources]
    for who, lic in named:
        if lic and unknown_spdx(lic):
            msg = (f"{path}: {who}: licence {lic!r} is not a known SPDX id; kept as given "
                   "(use an SPDX id such as CC-BY-4.0, or free text)")  # fmt: skip
            warnings.warn(msg, stacklevel=3)


__all__ = [
    "BatchSpec",
    "ConfigError",
    "DOCUMENT_FORMATS",
    "EQUIPMENT_ID",
    "EquipmentEntry",
    "ExpectationOverride",
    "Format",
    "JoinSpec",
    "Kind",
    "PartitionBy",
    "QualityOverrides",
    "ReadOptions",
    "SOURCE_NAME",
    "Shape",
    "SidecarSpec",
    "Site",
    "Source",
    "SourcesConfig",
    "TABLE_FORMATS",
    "TagSpec",
    "TimeSpec",
    "WideSpec",
    "check_columns",
    "check_encoding",
    "check_time_format",
    "check_unit",
    "check_units",
    "check_zone",
    "is_uri",
    "load",
    "normalize_alias",
]
