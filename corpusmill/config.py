"""The sources file (``sources.yaml``): schema, loading and path resolution.

A plant engineer describes each messy export in a few lines of YAML; this module validates that
description before any data is read. Unknown keys are refused, and every error names the source,
the field and the problem.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from corpusmill import canonical
from corpusmill.yamlfile import by_name, load_model, matching

Kind = Literal["sensor", "production", "quality", "maintenance", "document", "image", "equipment"]
Format = Literal[
    "csv", "tsv", "whitespace", "excel", "json", "jsonl", "parquet", "sqlite",
    "text", "markdown", "pdf", "images",
]  # fmt: skip
Shape = Literal["long", "wide", "batch"]

#: Formats whose files are documents (one file = one row).
DOCUMENT_FORMATS = frozenset({"text", "markdown", "pdf"})

EQUIPMENT_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*){3}$")
SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigError(ValueError):
    """A sources file that cannot be used; the message names the file, source and field."""


def check_zone(zone: str | None) -> str | None:
    """Refuse a time zone that is not an IANA name."""
    if zone is not None and zone != "UTC":
        from zoneinfo import available_timezones

        if zone not in available_timezones():
            msg = f"unknown time zone {zone!r} (use an IANA name such as 'Asia/Shanghai')"
            raise ValueError(msg)
    return zone


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadOptions(_Strict):
    """How to read the bytes of a file. Every option has a default that suits most exports."""

    encoding: str = Field(
        "auto",
        description="'auto' (detect; recorded in provenance), or a codec name: utf-8, utf-8-sig, "
        "gb18030, gbk, utf-16 ...",
    )
    delimiter: str | None = Field(None, description="CSV delimiter; detected when not given")
    quote: str = Field('"', description="CSV quote character")
    header: bool = Field(True, description="False when the file has no header row")
    columns: list[str] | None = Field(
        None, description="column names for files without a header (header: false)"
    )
    skip_rows: int = Field(0, ge=0, description="lines to skip before the header")
    comment: str | None = Field(None, description="lines starting with this are skipped")
    null_values: list[str] = Field(
        default_factory=lambda: ["", "NA", "N/A", "null", "NULL", "NaN", "-"],
        description="cell values read as null",
    )
    sheet: str | int | list[str | int] | None = Field(
        None, description="Excel: sheet name(s) or 0-based index(es); default the first sheet"
    )
    query: str | None = Field(None, description="SQLite: the SELECT to run")
    json_path: str | None = Field(
        None, description="JSON: dotted path to the list of records, e.g. 'data.items'"
    )

    @model_validator(mode="after")
    def _columns_when_headerless(self) -> ReadOptions:
        if not self.header and not self.columns:
            msg = "header: false needs 'columns' (the names of the file's columns, in order)"
            raise ValueError(msg)
        if self.delimiter is not None and len(self.delimiter) != 1 and self.delimiter != r"\s+":
            msg = f"delimiter must be one character, got {self.delimiter!r}"
            raise ValueError(msg)
        return self


class TimeSpec(_Strict):
    """How timestamps in this source are written and which clock they are on."""

    timezone: str | None = Field(
        None, description="IANA zone of naive timestamps; default the site's zone, else UTC"
    )
    format: str | None = Field(None, description="strftime format; inferred when not given")
    ambiguous: Literal["earliest", "latest", "quarantine"] = Field(
        "earliest", description="a local time that occurs twice (DST fall-back)"
    )
    nonexistent: Literal["shift_forward", "quarantine"] = Field(
        "quarantine", description="a local time skipped by a DST spring-forward gap"
    )

    _zone = field_validator("timezone")(lambda v: check_zone(v))


class TagSpec(_Strict):
    """One tag column of a wide historian export."""

    signal: str | None = Field(None, description="canonical signal name; default the tag name")
    unit: str | None = Field(None, description="unit of the tag's values (converted to SI)")
    equipment: str | None = Field(None, description="equipment alias; default the source's")


class _TagColumns(_Strict):
    tags: dict[str, TagSpec] = Field(
        default_factory=dict, description="per-tag signal/unit/equipment; unlisted tags keep defaults"
    )
    tag_columns: Literal["all"] | list[str] | str = Field(
        "all", description="'all' remaining columns, a list, or a regular expression"
    )
    equipment_from_tag: str | None = Field(
        None,
        description="regex with a named group 'equipment' (and optionally 'signal') that "
        "splits tag names like 'CNC01.SpindleTemp'",
    )

    @field_validator("equipment_from_tag")
    @classmethod
    def _has_equipment_group(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                rx = re.compile(v)
            except re.error as e:
                raise ValueError(f"not a regular expression: {e}") from None
            if "equipment" not in rx.groupindex:
                raise ValueError("needs a named group (?P<equipment>...)")
        return v


class WideSpec(_TagColumns):
    """A time column and many tag columns, reshaped to one reading per row."""

    time_column: str


class BatchSpec(_TagColumns):
    """Batch records whose clock is relative to the batch start (no absolute timestamp).

    Tag columns are reshaped to one reading per row like a wide export. Without an offset column
    the readings keep only their position in the batch (``sample_index``); no time is invented.
    """

    batch_column: str
    offset_column: str | None = Field(None, description="clock since batch start, if any")
    offset_unit: str = Field("s", description="unit of the offset column (s, min, h)")


class JoinSpec(_Strict):
    """Another file joined to this source's rows; its key column may be spelled differently."""

    path: str
    format: Format
    read: ReadOptions = Field(default_factory=ReadOptions)
    on: dict[str, str] = Field(description="{this source's key column: the other file's column}")
    how: Literal["left", "inner"] = "left"


class SidecarSpec(_Strict):
    """A labels file beside a folder of images."""

    path: str
    format: Format = "csv"
    read: ReadOptions = Field(default_factory=ReadOptions)
    file_column: str = Field("file", description="the column naming the image file")


class ExpectationOverride(_Strict):
    """Per-source or per-site override of one expectation's thresholds in a quality suite."""

    enabled: bool | None = None
    severity: Literal["error", "warn"] | None = None
    mostly: float | None = Field(None, ge=0.0, le=1.0)
    min_value: float | str | None = None
    max_value: float | str | None = None
    value_set: list[Any] | None = None
    regex: str | None = None


#: table name -> expectation name -> override
QualityOverrides = dict[str, dict[str, ExpectationOverride]]


class Source(_Strict):
    name: str = Field(description="unique, lower_snake_case; the Dagster partition key")
    site: str
    kind: Kind
    path: str = Field(description="file, glob or folder, relative to the sources file, or s3://")
    format: Format
    read: ReadOptions = Field(default_factory=ReadOptions)
    shape: Shape = "long"
    fields: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> source column"
    )
    constants: dict[str, Any] = Field(
        default_factory=dict, description="canonical field -> a value for every row"
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

    _name = field_validator("name")(
        matching(SOURCE_NAME, "lower_snake_case (letters, digits, _; starting with a letter)")
    )

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
        if self.format == "sqlite" and not self.read.query:
            raise ValueError("format: sqlite needs read.query (the SELECT to run)")
        if self.format in DOCUMENT_FORMATS and self.kind != "document":
            raise ValueError(f"format: {self.format} is for kind: document")
        return self


class Site(_Strict):
    timezone: str = "UTC"
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
        """The settings corpus ``name`` is built with: its defaults, then ``corpora.<name>``."""
        from corpusmill.corpora import corpus

        return corpus(name).resolve(self.corpora.get(name))

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
    return cfg.model_copy(update={"base_dir": path.resolve().parent})
