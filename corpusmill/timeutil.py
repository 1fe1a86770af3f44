"""Timestamps to UTC: format inference, DST-aware localisation and per-row problem checks.

Everything is a polars expression (vectorised); DST rules come from polars' time-zone database
through ``dt.replace_time_zone``, not from hand-written tables.

Inputs may be text (parsed with ``fmt``, or with every format in :data:`FORMATS` when ``fmt`` is
None: the first that parses a value wins), naive datetimes (localised in ``timezone``), aware
datetimes (converted to UTC), or integer/float epoch numbers (seconds, milliseconds or
microseconds, told apart by magnitude). Pass the column's ``dtype`` when it is not ``pl.String``.

Policies (``TimeSpec``):
``ambiguous``: ``earliest`` | ``latest`` pick one of the two instants of a repeated local time
(DST fall-back); ``quarantine`` gives null and the check ``ambiguous_local_time``.
``nonexistent``: ``shift_forward`` reads a local time inside a DST gap with the offset in force
before the gap, which moves it forward by the gap's length (02:30 in a 1-hour gap -> 03:30 local),
like ``java.time``; ``quarantine`` gives null and the check ``nonexistent_local_time``.
``two_digit_year``: the first year of the 100-year window a two-digit year (``24-03-05``,
``03/05/24``, ``%y``) falls in: 2000 reads ``24`` as 2024 and ``99`` as 2099; 1950 reads ``49``
as 2049 and ``50`` as 1950. Without it a text value with a two-digit year gives null and the check
``two_digit_year`` (never year 0024).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import polars as pl

__all__ = [
    "FORMATS",
    "TIME_CHECKS",
    "infer_format",
    "parse_local_to_utc",
    "time_check",
]

UTC = pl.Datetime("us", "UTC")

#: Naive formats tried when none is declared (``%.f``: optional fractional seconds).
NAIVE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y/%m/%d %H:%M:%S%.f",
    "%d.%m.%Y %H:%M:%S%.f",
    "%m/%d/%Y %H:%M:%S%.f",
    "%m/%d/%Y %H:%M",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M",
    "%d.%m.%Y %H:%M",
    "%Y-%m-%d",
)
#: Formats carrying their own offset (``%#z`` accepts ``Z``, ``+08:00`` and ``+0800``).
AWARE_FORMATS: tuple[str, ...] = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
FORMATS: tuple[str, ...] = AWARE_FORMATS + NAIVE_FORMATS

#: The check names :func:`time_check` gives.
TIME_CHECKS = ("bad_timestamp", "nonexistent_local_time", "ambiguous_local_time", "two_digit_year")

#: A text date whose year has two digits: ``yy-mm-dd`` (``-``, ``/``, ``.``) or ``dd.mm.yy`` /
#: ``mm/dd/yy``, alone or followed by a time.
SHORT_YEAR = r"^(?:\d{2}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2})(?:[ T]|$)"


def _short_formats(fmt: str | None) -> tuple[str, ...]:
    """The two-digit-year forms of ``fmt``, then of every naive format (a format inferred from
    the four-digit rows need not fit the two-digit ones)."""
    fmts = ((fmt,) if fmt else ()) + NAIVE_FORMATS
    return tuple(dict.fromkeys(f.replace("%Y", "%y") for f in fmts if not _is_aware(f)))


def _in_window(dt: pl.Expr, start: int) -> pl.Expr:
    """``dt`` with its year moved into the 100 years from ``start`` (same last two digits)."""
    yy = dt.dt.year() % 100
    return dt.dt.replace(year=start + (yy - start % 100 + 100) % 100)

Ambiguous = Literal["earliest", "latest", "quarantine"]
Nonexistent = Literal["shift_forward", "quarantine"]


def _is_aware(fmt: str) -> bool:
    return "%z" in fmt or "%#z" in fmt or "%:z" in fmt or fmt.endswith("Z")


def infer_format(values: pl.Series, *, sample: int = 1000) -> str | None:
    """The format in :data:`FORMATS` that parses the most of a sample of ``values`` (or None).

    Ties go to the earlier format in the list (so day-first vs month-first ambiguity resolves to
    the listed order; declare ``time.format`` when it matters).
    """
    s = values.drop_nulls()
    s = s.head(sample) if s.len() <= sample else s.sample(sample, seed=0)
    if s.is_empty() or s.dtype != pl.String:
        return None
    s = s.str.strip_chars()
    best, hits = None, 0
    for fmt in FORMATS:
        n = s.str.to_datetime(fmt, strict=False, time_unit="us").is_not_null().sum()
        if n > hits:
            best, hits = fmt, n
    return best


def _as_expr(col: pl.Expr | str) -> pl.Expr:
    return pl.col(col) if isinstance(col, str) else col


def _naive_and_aware(
    col: pl.Expr,
    fmt: str | None,
    dtype: pl.DataType,
    *,
    strip: bool = True,
    two_digit_year: int | None = None,
) -> tuple[pl.Expr | None, pl.Expr | None]:
    """(naive local datetime, UTC datetime) expressions; either may be None."""
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            return None, col.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        return col.dt.cast_time_unit("us"), None
    if isinstance(dtype, pl.Date):
        return col.cast(pl.Datetime("us")), None
    if dtype.is_numeric():
        x = col.cast(pl.Float64)
        us = (
            pl.when(x.abs() < 1e11).then(x * 1e6)
            .when(x.abs() < 1e14).then(x * 1e3)
            .otherwise(x)
        ).round(0).cast(pl.Int64)  # fmt: skip
        return None, pl.from_epoch(us, time_unit="us").dt.replace_time_zone("UTC")
    s = col.cast(pl.String)
    if strip:
        s = s.str.strip_chars()
    fmts = (fmt,) if fmt else FORMATS
    naive = [s.str.to_datetime(f, strict=False, time_unit="us") for f in fmts if not _is_aware(f)]
    aware = [
        s.str.to_datetime(f, strict=False, time_unit="us").dt.convert_time_zone("UTC")
        for f in fmts
        if _is_aware(f)
    ]
    naive_e = pl.coalesce(naive) if naive else None
    if fmt is not None and "%y" in fmt:  # declared two-digit years (the config needs the window)
        if naive_e is not None and two_digit_year is not None:
            naive_e = _in_window(naive_e, two_digit_year)
    elif naive_e is not None:
        # a two-digit year read by a %Y format is a year below 100 (24-03-05 -> 0024): a cheap
        # integer test on the hot path, where a regex over every value would not be (a comparison
        # with 0100-01-01, the same test as ``dt.year() < 100`` without computing the year)
        short = naive_e < datetime(100, 1, 1)
        if two_digit_year is None:
            naive_e = pl.when(~short).then(naive_e)  # never year 0024
        else:
            read = pl.coalesce(
                [s.str.to_datetime(f, strict=False, time_unit="us") for f in _short_formats(fmt)]
            )
            naive_e = (
                pl.when(short | naive_e.is_null())
                .then(_in_window(pl.coalesce(read, naive_e), two_digit_year))
                .otherwise(naive_e)
            )
    return naive_e, pl.coalesce(aware) if aware else None


def _localise(naive: pl.Expr, tz: str, how: str) -> pl.Expr:
    return naive.dt.replace_time_zone(tz, ambiguous=how, non_existent="null").dt.convert_time_zone(
        "UTC"
    )


def _shifted(naive: pl.Expr, tz: str) -> pl.Expr:
    """A local time in a DST gap read with the UTC offset in force just before the gap."""
    before = naive - pl.duration(hours=6)
    before_utc = _localise(before, tz, "earliest")
    offset = before - before_utc.dt.replace_time_zone(None)
    return (naive - offset).dt.replace_time_zone("UTC")


def parse_local_to_utc(
    col: pl.Expr | str,
    *,
    timezone: str,
    fmt: str | None = None,
    ambiguous: Ambiguous = "earliest",
    nonexistent: Nonexistent = "quarantine",
    dtype: pl.DataType | None = None,
    strip: bool = True,
    two_digit_year: int | None = None,
) -> pl.Expr:
    """``col`` as ``Datetime("us", "UTC")``; null where unparseable or quarantined by a policy.

    Naive values (text without an offset, naive datetimes) are local times in ``timezone``; values
    with an offset, aware datetimes and epoch numbers are absolute. ``strip=False`` skips trimming
    surrounding whitespace (a padded value then parses to null): for a caller that re-parses the
    null rows with ``strip=True``, it saves a pass over every clean row.
    """
    e = _as_expr(col)
    naive, aware = _naive_and_aware(
        e, fmt, dtype or pl.String(), strip=strip, two_digit_year=two_digit_year
    )
    out: pl.Expr | None = None
    if naive is not None:
        how = "null" if ambiguous == "quarantine" else ambiguous
        local = _localise(naive, timezone, how)
        if nonexistent == "shift_forward":
            gap = naive.is_not_null() & _localise(naive, timezone, "earliest").is_null()
            local = pl.when(gap).then(_shifted(naive, timezone)).otherwise(local)
        out = local
    if aware is not None:
        out = aware if out is None else pl.coalesce(aware, out)
    assert out is not None
    return out.cast(UTC)


def time_check(
    col: pl.Expr | str,
    *,
    timezone: str,
    fmt: str | None = None,
    ambiguous: Ambiguous = "earliest",
    nonexistent: Nonexistent = "quarantine",
    dtype: pl.DataType | None = None,
    two_digit_year: int | None = None,
) -> pl.Expr:
    """Per row, why the timestamp is unusable, or null when it is fine (or missing).

    ``"two_digit_year"`` (a two-digit year and no ``two_digit_year`` window declared),
    ``"bad_timestamp"`` (present but unparseable), ``"nonexistent_local_time"`` (in a DST gap,
    policy quarantine) or ``"ambiguous_local_time"`` (repeated local time, policy quarantine).
    Rows with a non-null check are exactly the non-null inputs that :func:`parse_local_to_utc`
    turns into null.
    """
    e = _as_expr(col)
    dtype = dtype or pl.String()
    naive, aware = _naive_and_aware(e, fmt, dtype, two_digit_year=two_digit_year)
    present = e.is_not_null()
    if dtype == pl.String:
        present = present & (e.str.strip_chars().str.len_chars() > 0)
    parsed = pl.lit(False)
    if naive is not None:
        parsed = parsed | naive.is_not_null()
    if aware is not None:
        parsed = parsed | aware.is_not_null()
    short = pl.lit(False)
    if dtype == pl.String and two_digit_year is None and not (fmt and "%y" in fmt):
        short = e.str.strip_chars().str.contains(SHORT_YEAR)
    expr = (
        pl.when(present & ~parsed & short).then(pl.lit("two_digit_year"))
        .when(present & ~parsed).then(pl.lit("bad_timestamp"))
    )  # fmt: skip
    if naive is not None:
        is_naive = naive.is_not_null() & (aware.is_null() if aware is not None else pl.lit(True))
        earliest = _localise(naive, timezone, "earliest")
        latest = _localise(naive, timezone, "latest")
        if nonexistent == "quarantine":
            expr = expr.when(is_naive & earliest.is_null()).then(pl.lit("nonexistent_local_time"))
        if ambiguous == "quarantine":
            expr = expr.when(is_naive & (earliest != latest)).then(pl.lit("ambiguous_local_time"))
    return expr.otherwise(pl.lit(None, dtype=pl.String()))
