"""The sources file (``sources.yaml``): schema, loading and path resolution.

A plant engineer describes each messy export in a few lines of YAML; this module validates that
description before any data is read. Unknown keys are refused, and every error names the source,
the field and the problem.
"""

from __future__ import annotations

import codecs
import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

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
#: Formats a join or sidecar file may have: ones with rows.
TABLE_FORMATS = frozenset(
    {"csv", "tsv", "whitespace", "excel", "json", "jsonl", "parquet", "sqlite"}
)


def _table_format(fmt: str) -> str:
    if fmt not in TABLE_FORMATS:
        msg = f"format {fmt!r} has no rows to join; use one of {', '.join(sorted(TABLE_FORMATS))}"
        raise ValueError(msg)
    return fmt

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


def check_unit(unit: str | None) -> str | None:
    """Refuse a unit the project's unit layer (pint, with its industrial aliases) cannot read."""
    if unit is not None:
        from corpusmill.units import UnitError, to_si

        try:
            to_si(unit)
        except UnitError as e:
            raise ValueError(str(e)) from None
    return unit


def check_units(units: dict[str, str]) -> dict[str, str]:
    """Every value of a ``name -> unit`` mapping is a known unit; the message names the key."""
    for key, unit in units.items():
        try:
            check_unit(unit)
        except ValueError as e:
            raise ValueError(f"{key}: {e}") from None
    return units


def check_encoding(encoding: str) -> str:
    """'auto' or a codec Python knows (``codecs.lookup``)."""
    if encoding.lower() != "auto":
        try:
            codecs.lookup(encoding)
        except LookupError:
            msg = (
                f"unknown encoding {encoding!r} (use 'auto' or a Python codec name such as "
                "utf-8, utf-8-sig, gb18030, gbk, utf-16, cp1252)"
            )
            raise ValueError(msg) from None
    return encoding


#: strftime/strptime directives polars (chrono) understands, after the ``%`` and an optional
#: padding flag (``-``, ``_``, ``0``): single letters, plus ``%.f``/``%.3f``/``%3f`` fractions and
#: ``%:z``/``%::z``/``%:::z``/``%#z`` offsets.
_DIRECTIVE = re.compile(r"%(?P<flag>[-_0])?(?P<spec>\.[369]?f|[369]f|:{1,3}z|#z|.?)", re.DOTALL)
_DIRECTIVE_LETTERS = frozenset("YCymbBhdeawuUWGgVjDxFvHkIlPpMSfRTXrZzcs+tn%")


def check_time_format(fmt: str | None) -> str | None:
    """Refuse a time format with a ``%`` directive chrono (polars) does not know, e.g. ``%Q``."""
    if fmt is None:
        return fmt
    if "%" not in fmt:
        msg = f"{fmt!r} has no % directive (a strftime format such as '%Y-%m-%d %H:%M:%S')"
        raise ValueError(msg)
    for m in _DIRECTIVE.finditer(fmt):
        spec = m.group("spec")
        if len(spec) == 1 and spec in _DIRECTIVE_LETTERS or len(spec) > 1:
            continue
        shown = "%" + (m.group("flag") or "") + spec if spec else "a lone '%' at the end"
        msg = (
            f"time format {fmt!r}: unknown directive {shown!r} (known: %Y %m %d %H %M %S %.f "
            "%y %b %B %a %A %j %I %p %z %Z %s ...; write %% for a literal %)"
        )
        raise ValueError(msg)
    return fmt


def check_columns(
    keys: dict[str, Any], info: ValidationInfo, what: str, *, numeric: bool = False
) -> None:
    """Every key of ``what`` (fields, constants, units) is a column of the source kind's canonical
    table; the message lists the columns and suggests the closest one."""
    kind = info.data.get("kind")
    if kind is None:  # the kind itself is invalid: reported on its own
        return
    table = canonical.KIND_TABLE[kind]
    columns = [
        c for c, dtype in canonical.TABLES[table].items()
        if not numeric or isinstance(dtype, pl.Float64)
    ]  # fmt: skip
    unknown = [k for k in keys if k not in columns]
    if not unknown:
        return
    parts = []
    for k in unknown:
        close = difflib.get_close_matches(k, columns, n=1, cutoff=0.6)
        parts.append(f"{k!r} (did you mean {close[0]!r}?)" if close else repr(k))
    col_kind = "numeric columns" if numeric else "columns"
    msg = (
        f"{', '.join(parts)} {'is not a' if len(unknown) == 1 else 'are not'} "
        f"{col_kind[:-1] if len(unknown) == 1 else col_kind} of {table} "
        f"(kind: {kind}); allowed in {what}: {', '.join(columns)}"
    )
    raise ValueError(msg)


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

    _encoding = field_validator("encoding")(lambda v: check_encoding(v))

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
    _format = field_validator("format")(lambda v: check_time_format(v))


class TagSpec(_Strict):
    """One tag column of a wide historian export."""

    signal: str | None = Field(None, description="canonical signal name; default the tag name")
    unit: str | None = Field(None, description="unit of the tag's values (converted to SI)")
    equipment: str | None = Field(None, description="equipment alias; default the source's")

    _unit = field_validator("unit")(lambda v: check_unit(v))


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

    @field_validator("tag_columns")
    @classmethod
    def _tag_regex_compiles(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, str) and v != "all":
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"not 'all', a list, or a regular expression: {e}") from None
        return v

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

    @field_validator("offset_unit")
    @classmethod
    def _time_unit(cls, v: str) -> str:
        from corpusmill.units import UnitError, to_si

        try:
            si = to_si(v)[2]
        except UnitError as e:
            raise ValueError(str(e)) from None
        if si != "s":
            raise ValueError(f"{v!r} is not a unit of time (use s, min, h)")
        return v


class JoinSpec(_Strict):
    """Another file joined to this source's rows; its key column may be spelled differently."""

    path: str = Field(min_length=1)
    format: Format
    read: ReadOptions = Field(default_factory=ReadOptions)
    on: dict[str, str] = Field(
        min_length=1, description="{this source's key column: the other file's column}"
    )
    how: Literal["left", "inner"] = "left"

    _format = field_validator("format")(lambda v: _table_format(v))

    @model_validator(mode="after")
    def _sqlite_query(self) -> JoinSpec:
        if self.format == "sqlite" and not self.read.query:
            raise ValueError("a sqlite join file needs read.query (the SELECT to run)")
        return self


class SidecarSpec(_Strict):
    """A labels file beside a folder of images."""

    path: str = Field(min_length=1)
    format: Format = "csv"
    read: ReadOptions = Field(default_factory=ReadOptions)
    file_column: str = Field("file", min_length=1, description="the column naming the image file")

    _format = field_validator("format")(lambda v: _table_format(v))

    @model_validator(mode="after")
    def _sqlite_query(self) -> SidecarSpec:
        if self.format == "sqlite" and not self.read.query:
            raise ValueError("a sqlite sidecar file needs read.query (the SELECT to run)")
        return self


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

    _name = field_validator("name")(
        matching(SOURCE_NAME, "lower_snake_case (letters, digits, _; starting with a letter)")
    )

    @field_validator("fields", "constants")
    @classmethod
    def _canonical_keys(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        check_columns(v, info, info.field_name or "fields")
        return v

    @field_validator("units")
    @classmethod
    def _unit_keys_and_values(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        problems = []
        for check in (lambda: check_columns(v, info, "units", numeric=True), lambda: check_units(v)):
            try:
                check()
            except ValueError as e:
                problems.append(str(e))
        if problems:
            raise ValueError("; ".join(problems))
        return v

    _signal_units = field_validator("signal_units")(lambda v: check_units(v))

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
