"""Unit conversion to SI through pint."""

from __future__ import annotations

import math

import polars as pl
import pytest

from corpusmill.units import UnitError, convert_expr, to_si, unit_table


@pytest.mark.parametrize(
    ("unit", "value", "si", "symbol"),
    [
        ("°F", 32.0, 273.15, "K"),
        ("℉", 212.0, 373.15, "K"),
        ("degF", -40.0, 233.15, "K"),
        ("°C", 0.0, 273.15, "K"),
        ("℃", 100.0, 373.15, "K"),
        ("psi", 1.0, 6894.757293168, "Pa"),
        ("psig", 1.0, 6894.757293168, "Pa"),
        ("bar", 2.0, 200_000.0, "Pa"),
        ("kPa", 1.0, 1000.0, "Pa"),
        ("MPa", 1.0, 1e6, "Pa"),
        ("rpm", 60.0, 2 * math.pi, "rad/s"),
        ("kW", 1.5, 1500.0, "W"),
        ("mm", 5.0, 0.005, "m"),
        ("in", 1.0, 0.0254, "m"),
        ("m3/h", 3600.0, 1.0, "m^3/s"),
        ("L/min", 60.0, 0.001, "m^3/s"),
        ("%", 50.0, 0.5, "1"),
        ("K", 300.0, 300.0, "K"),
    ],
)
def test_to_si(unit, value, si, symbol):
    scale, offset, sym = to_si(unit)
    assert sym == symbol
    assert value * scale + offset == pytest.approx(si, rel=1e-9)


def test_bare_f_and_c_are_ambiguous():
    # pint reads F as farad and C as coulomb; plant exports mean degrees: refused, not guessed
    with pytest.raises(UnitError, match=r"ambiguous unit 'F'.*unit_aliases: \{F: degF\}"):
        to_si("F")
    with pytest.raises(UnitError, match=r"ambiguous unit 'C'.*degC"):
        to_si("C")
    assert to_si("farad")[2] == "F"
    assert to_si("K") == (1.0, 0.0, "K")


def test_unit_with_stray_characters_refused():
    with pytest.raises(UnitError, match="unknown unit 'degF\\?'"):
        to_si("degF?")
    with pytest.raises(UnitError, match="unknown unit ''"):
        to_si("")


def test_unknown_unit_named():
    with pytest.raises(UnitError, match="'blorp'"):
        to_si("blorp")


def test_convert_constant_unit():
    df = pl.DataFrame({"v": ["32", "Bad", "212"]})
    val, unit = convert_expr("v", "°F")
    out = df.select(val.alias("si"), unit.alias("u"))
    assert out["si"][0] == pytest.approx(273.15) and out["si"][1] is None
    assert out["u"].unique().to_list() == ["K"]


def test_convert_unit_column():
    df = pl.DataFrame({"v": [1.0, 1.0, 50.0, 7.0], "u": ["bar", "degC", "%", "furlongz"]})
    val, unit = convert_expr("v", "u", df["u"].unique())
    out = df.select(val.alias("si"), unit.alias("su"))
    assert out["si"][:3].to_list() == pytest.approx([1e5, 274.15, 0.5])
    assert out["su"].to_list() == ["Pa", "K", "1", None]
    assert out["si"][3] is None
    _, bad = unit_table(df["u"])
    assert list(bad) == ["furlongz"]
