"""The blocks a source is made of: read options, time, tags, wide and batch shapes, joins,
sidecars and quality overrides."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from corpusmill.config.checks import (
    Format,
    _table_format,
    check_encoding,
    check_time_format,
    check_unit,
    check_zone,
)
from corpusmill.settings import StrictModel as _Strict


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

    two_digit_year: int | None = Field(
        None,
        ge=1000,
        le=9900,
        description="first year of the 100-year window two-digit years fall in: 2000 reads "
        "24-03-05 as 2024; 1950 reads 49 as 2049 and 50 as 1950. Without it, rows with a "
        "two-digit year are quarantined (check two_digit_year)",
    )

    _zone = field_validator("timezone")(lambda v: check_zone(v))
    _format = field_validator("format")(lambda v: check_time_format(v))

    @model_validator(mode="after")
    def _century_for_short_years(self) -> TimeSpec:
        if self.format and "%y" in self.format and self.two_digit_year is None:
            msg = (
                f"time.format {self.format!r} has a two-digit year (%y): declare its century, "
                "e.g. two_digit_year: 2000 (years 2000-2099)"
            )
            raise ValueError(msg)
        return self


class TagSpec(_Strict):
    """One tag column of a wide historian export."""

    signal: str | None = Field(None, description="canonical signal name; default the tag name")
    unit: str | None = Field(None, description="unit of the tag's values (converted to SI)")
    equipment: str | None = Field(None, description="equipment alias; default the source's")

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: str | None) -> str | None:
        from corpusmill.units import AMBIGUOUS

        if v is not None and v.strip() in AMBIGUOUS:
            return v  # checked by the source, which knows its unit_aliases
        return check_unit(v)


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

    batch_column: str | None = Field(
        None, description="the column naming each row's batch (run_from: column)"
    )
    run_from: Literal["column", "file"] = Field(
        "column",
        description="'column': batch_column names the batch; 'file': each file is one run "
        "(clockless simulation or test-rig exports), its batch_id the file (see file_id)",
    )
    file_id: Literal["stem", "path"] = Field(
        "stem",
        description="run_from: file: batch_id is the file's stem ('run_07' for run_07.csv) or "
        "its path relative to the sources file ('data/rig1/run_07.csv')",
    )
    sample_period: str | None = Field(
        None,
        description="fixed sampling period, e.g. '3min', '0.5 s': t_offset_s = sample_index x "
        "period (instead of an offset column)",
    )
    orientation: Literal["rows", "columns"] = Field(
        "rows",
        description="'rows': one sample per row, variables in columns; 'columns': transposed, one "
        "variable per row (named by variable_column), samples in the other columns in order",
    )
    variable_column: str | None = Field(
        None, description="orientation: columns: the column naming each row's variable"
    )
    offset_column: str | None = Field(None, description="clock since batch start, if any")
    offset_unit: str = Field("s", description="unit of the offset column (s, min, h)")

    @field_validator("sample_period")
    @classmethod
    def _period(cls, v: str | None) -> str | None:
        if v is not None:
            period_seconds(v)
        return v

    @model_validator(mode="after")
    def _run_fits(self) -> BatchSpec:
        if self.run_from == "column" and not self.batch_column:
            raise ValueError("batch needs batch_column, or run_from: file (each file is one run)")
        if self.run_from == "file" and self.batch_column:
            raise ValueError("run_from: file takes the batch from the file; drop batch_column")
        if self.sample_period and self.offset_column:
            raise ValueError("give either sample_period or offset_column, not both")
        if self.orientation == "columns":
            if not self.variable_column:
                raise ValueError("orientation: columns needs variable_column (the variable names)")
            if self.offset_column or self.batch_column:
                raise ValueError(
                    "orientation: columns has no offset or batch column (samples are columns); "
                    "use run_from: file and sample_period"
                )
        return self

    @property
    def period_s(self) -> float | None:
        """The sampling period in seconds, if declared."""
        return period_seconds(self.sample_period) if self.sample_period else None

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


def period_seconds(text: str) -> float:
    """A duration such as ``3min``, ``0.5 s``, ``2h`` in seconds; ValueError names the problem."""
    import re as _re

    from corpusmill.units import UnitError, to_si

    m = _re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]+)\s*", text)
    if m is None:
        raise ValueError(f"sample_period {text!r} is not a duration such as '3min', '0.5 s', '2h'")
    try:
        scale, offset, si = to_si(m.group(2))
    except UnitError as e:
        raise ValueError(f"sample_period {text!r}: {e}") from None
    seconds = float(m.group(1)) * scale + offset
    if si != "s" or not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"sample_period {text!r} is not a positive time (use s, min, h)")
    return seconds


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
    #: Row-level only: fewer breaking rows than this never fail the expectation (tiny tables).
    min_count: int | None = Field(None, ge=1)
    min_value: float | str | None = None
    max_value: float | str | None = None
    value_set: list[Any] | None = None
    regex: str | None = None


#: table name -> expectation name -> override
QualityOverrides = dict[str, dict[str, ExpectationOverride]]




class PartitionBy(_Strict):
    """How a busy source is split into partitions that ingest independently (and in parallel).

    Exactly one of ``day`` (a regular expression whose one group captures the date a file carries
    in its path, ``YYYY-MM-DD`` or ``YYYYMMDD``) or ``file_groups`` (a number of groups the files
    are spread over by a stable hash of their path).
    """

    day: str | None = Field(
        None,
        description="regex searched in each file's path (as _file records it); its one capture "
        "group is the file's date, YYYY-MM-DD or YYYYMMDD, e.g. '(\\d{4}-\\d{2}-\\d{2})'",
    )
    file_groups: int | None = Field(
        None, ge=2, le=1000, description="spread the files over this many groups (2..1000)"
    )

    @field_validator("day")
    @classmethod
    def _one_group(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            compiled = re.compile(v)
        except re.error as e:
            raise ValueError(f"day pattern {v!r} is not a regular expression: {e}") from None
        if compiled.groups != 1:
            raise ValueError(
                f"day pattern {v!r} has {compiled.groups} capture groups; it needs exactly one, "
                "around the date, e.g. '(\\d{4}-\\d{2}-\\d{2})'"
            )
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> PartitionBy:
        if (self.day is None) == (self.file_groups is None):
            raise ValueError("give exactly one of 'day' (a date pattern) or 'file_groups' (N)")
        return self


# -- corpora.text_corpus.tokenizer ---------------------------------------------------------------


def with_tokenizer_path(config: Any, base_dir: Path) -> Any:
    """A corpus config whose ``tokenizer`` file (if it has one, given relative to the sources
    file) is made absolute against ``base_dir``; configs without the setting come back as is."""
    from dataclasses import replace

    tok = getattr(config, "tokenizer", "")
    if not tok or Path(tok).is_absolute():
        return config
    return replace(config, tokenizer=str((base_dir / tok).resolve()))


def tokenizer_problem(config: Any, where: str) -> str | None:
    """Why the ``tokenizer`` a corpus config declares cannot be used (missing file, unreadable,
    not a tokenizers JSON), naming ``where`` (``corpora.text_corpus.tokenizer``); None if fine."""
    tok = getattr(config, "tokenizer", "")
    if not tok:
        return None
    from corpusmill.text.tokens import TokenizerError, load_tokenizer

    try:
        load_tokenizer(tok)
    except TokenizerError as e:
        return f"{where}: {e}"
    return None
