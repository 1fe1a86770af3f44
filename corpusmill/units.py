"""Unit conversion to SI with pint, vectorised over polars columns.

``to_si(unit)`` gives ``(scale, offset, si_unit)`` with ``si = value * scale + offset``. The SI unit
is a short symbol: a named derived unit when the dimension has one (``Pa``, ``W``, ``J``, ``N``,
``V``, ``A``, ``Hz`` is *not* used: ``rpm`` is an angular velocity, ``rad/s``), otherwise pint's base
units in compact form with ``^`` powers (``m^3/s``, ``kg/s``). Dimensionless units (``%``, ``ppm``)
become fractions with unit ``"1"``.

Industrial spellings pint does not read as meant are aliased first: ``°F``/``℉``/``degF`` (never
``F``, which is farad), ``°C``/``℃``, ``psig``/``psia`` (read as psi: gauge pressure is *not*
shifted by atmospheric pressure, the value stays relative), ``m3/h`` style exponents, ``in``.

Ambiguous spellings are refused (:data:`AMBIGUOUS`): plant exports write ``F`` and ``C`` for
degrees, pint reads them as farad and coulomb, so ``to_si("F")`` raises :class:`UnitError` naming
both readings; a source declares what it means with ``unit_aliases: {F: degF}``. A unit with
characters no unit has (``degF?``, ``°C*``) is refused, not read around.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pint

__all__ = ["AMBIGUOUS", "UnitError", "convert_expr", "to_si", "unit_table"]


class UnitError(ValueError):
    """A unit pint cannot read, or one without an SI form; the message names the unit."""


_ALIASES: dict[str, str] = {
    "°F": "degF", "℉": "degF", "deg F": "degF", "degf": "degF",
    "°C": "degC", "℃": "degC", "deg C": "degC", "degc": "degC",
    "°K": "K",
    "psig": "psi", "psia": "psi", "PSI": "psi", "PSIG": "psi",
    "%": "percent", "pct": "percent",
    "in": "inch", '"': "inch",
    "RPM": "rpm", "r/min": "rpm",
    "l/min": "L/min", "lpm": "L/min", "LPM": "L/min",
    "m³/h": "m**3/h", "Nm3/h": "m**3/h",
    "µm": "um", "μm": "um",
    "Nm": "N*m", "N·m": "N*m",
}  # fmt: skip

#: Spellings with two plausible readings in plant exports: spelling -> (readings, suggested fix).
AMBIGUOUS: dict[str, tuple[str, str]] = {
    "F": ("farad or degree Fahrenheit", "degF"),
    "C": ("coulomb or degree Celsius", "degC"),
    "c": ("the speed of light or degree Celsius", "degC"),
}

#: Characters a unit spelling may contain; anything else (``?``, ``!``, ``#``, ``=``) is refused.
_UNIT_CHARS = re.compile(r"^[\w°℉℃µμ³²/*^.\-+ ()%\"'·]+$")

#: Named SI derived units preferred over base-unit products, by dimensionality.
_NAMED = ("Pa", "W", "J", "N", "V", "A", "ohm", "C", "F", "T", "Wb", "H", "S")

_POWER = re.compile(r"(?<=[A-Za-z])([23])(?![\d.])")


@functools.cache
def _ureg() -> pint.UnitRegistry:
    import pint

    return pint.UnitRegistry()


def _normalise(unit: str) -> str:
    u = unit.strip()
    u = _ALIASES.get(u, u)
    return _POWER.sub(r"**\1", u).replace("³", "**3").replace("²", "**2")


def _short(units: pint.Unit) -> str:
    text = f"{units:~C}"
    return text.replace("**", "^") if text else "1"


@functools.cache
def to_si(unit: str) -> tuple[float, float, str]:
    """Scale, offset and SI symbol for ``unit``: ``si = value * scale + offset``.

    Examples: ``to_si("°F") == (5/9, 255.372..., "K")``, ``to_si("bar") == (1e5, 0.0, "Pa")``,
    ``to_si("rpm") == (0.10471..., 0.0, "rad/s")``, ``to_si("%") == (0.01, 0.0, "1")``.

    Raises
    ------
    UnitError
        pint cannot parse ``unit`` (the message names it and the fix).
    """
    stripped = unit.strip()
    if stripped in AMBIGUOUS:
        readings, fix = AMBIGUOUS[stripped]
        msg = (
            f"ambiguous unit {unit!r} (it could be {readings}); write the unit unambiguously "
            f"(e.g. {fix!r}) or declare it in the source: unit_aliases: {{{stripped}: {fix}}}"
        )
        raise UnitError(msg)
    if not stripped or not _UNIT_CHARS.match(stripped):
        msg = f"unknown unit {unit!r}; use pint syntax such as 'degC', 'bar', 'm**3/h'"
        raise UnitError(msg)
    ureg = _ureg()
    name = _normalise(unit)
    try:
        zero = ureg.Quantity(0.0, name).to_base_units()
        one = ureg.Quantity(1.0, name).to_base_units()
    except Exception as e:  # noqa: BLE001 - pint parses with Python's tokenizer and eval: an
        # unbalanced '(' is a tokenize.TokenError, others are Pint/Attribute/Type/Value/Syntax errors
        msg = f"unknown unit {unit!r} ({e}); use pint syntax such as 'degC', 'bar', 'm**3/h'"
        raise UnitError(msg) from None
    offset = float(zero.magnitude)
    scale = float(one.magnitude) - offset
    if offset:
        scale = float(f"{scale:.12g}")  # 1 - 0 on offset scales leaves float noise (0.55555555554)
    base = one.units
    if one.dimensionless and str(base) in ("", "dimensionless"):
        return scale, offset, "1"
    for named in _NAMED:
        target = ureg.Unit(named)
        if target.dimensionality == base.dimensionality and base != target:
            factor = float(ureg.Quantity(1.0, base).to(target).magnitude)
            return scale * factor, offset * factor, _short(target)
    return scale, offset, _short(base)


def unit_table(units: Iterable[str | None]) -> tuple[pl.DataFrame, dict[str, str]]:
    """The conversion table for the distinct ``units`` of a column, and the ones that failed.

    Returns a frame (unit, scale, offset, si_unit) for the readable units and
    ``{unit: reason}`` for the others, so the caller can quarantine those rows with the reason.
    """
    rows: list[tuple[str, float, float, str]] = []
    bad: dict[str, str] = {}
    for u in dict.fromkeys(x for x in units if x is not None):
        try:
            rows.append((u, *to_si(u)))
        except UnitError as e:
            bad[u] = str(e)
    table = pl.DataFrame(
        rows,
        schema={"unit": pl.String, "scale": pl.Float64, "offset": pl.Float64, "si_unit": pl.String},
        orient="row",
    )
    return table, bad


def convert_expr(
    value: pl.Expr | str, unit: pl.Expr | str, units: Iterable[str | None] | None = None
) -> tuple[pl.Expr, pl.Expr]:
    """Expressions for (SI value, SI unit).

    With ``units=None``, ``unit`` is one constant unit for every row (a :class:`UnitError` is raised
    at once when it is unknown). Otherwise ``unit`` names the per-row unit column (or is an
    expression) and ``units`` are its distinct values; rows whose unit is unknown get null value
    and null unit (see :func:`unit_table` for the reasons).

    The value is cast to Float64 leniently: text such as ``"Bad"`` becomes null.
    """
    v = (pl.col(value) if isinstance(value, str) else value).cast(pl.Float64, strict=False)
    if units is None:
        if not isinstance(unit, str):
            msg = "a constant unit must be a string; for a unit column pass its distinct `units`"
            raise TypeError(msg)
        scale, offset, si = to_si(unit)
        out = v * scale + offset if offset else v * scale
        return out, pl.lit(si, dtype=pl.String())
    u = pl.col(unit) if isinstance(unit, str) else unit
    table, _ = unit_table(units)
    keys = table["unit"].to_list()
    scale_e = u.replace_strict(keys, table["scale"].to_list(), default=None, return_dtype=pl.Float64)
    off_e = u.replace_strict(keys, table["offset"].to_list(), default=None, return_dtype=pl.Float64)
    si_e = u.replace_strict(keys, table["si_unit"].to_list(), default=None, return_dtype=pl.String)
    return v * scale_e + off_e, si_e
