"""Checks of single values in the sources file: formats, names, zones, units, encodings,
time formats, column names. Each returns the value or raises ValueError naming the problem."""

from __future__ import annotations

import codecs
import difflib
import re
from typing import Any, Literal

import polars as pl
from pydantic import (
    ValidationInfo,
)

from corpusmill import canonical

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


def check_unit(unit: str | None, aliases: dict[str, str] | None = None) -> str | None:
    """Refuse a unit the project's unit layer (pint, with its industrial aliases) cannot read,
    after the source's ``unit_aliases``; an ambiguous spelling (``F``, ``C``) names the fix."""
    if unit is not None:
        from corpusmill.units import UnitError, to_si

        try:
            to_si((aliases or {}).get(unit.strip(), unit))
        except UnitError as e:
            raise ValueError(str(e)) from None
    return unit


def check_units(units: dict[str, str], aliases: dict[str, str] | None = None) -> dict[str, str]:
    """Every value of a ``name -> unit`` mapping is a known unit; the message names the key."""
    for key, unit in units.items():
        try:
            check_unit(unit, aliases)
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


