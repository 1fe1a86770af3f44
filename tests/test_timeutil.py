"""Local timestamps to UTC with DST policies and per-row checks."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from corpusmill.timeutil import infer_format, parse_local_to_utc, time_check

UTC = dt.timezone.utc


def _run(values, **kw):
    df = pl.DataFrame({"t": values}, schema={"t": pl.String})
    return df.select(
        parse_local_to_utc("t", **kw).alias("ts"), time_check("t", **kw).alias("check")
    )


CHICAGO = {"timezone": "America/Chicago"}


def test_spring_forward_gap_quarantine():
    out = _run(["2024-03-10 02:30:00", "2024-03-10 01:59:59"], **CHICAGO, nonexistent="quarantine")
    assert out.rows() == [
        (None, "nonexistent_local_time"),
        (dt.datetime(2024, 3, 10, 7, 59, 59, tzinfo=UTC), None),
    ]


def test_spring_forward_gap_shift_forward():
    out = _run(["2024-03-10 02:30:00"], **CHICAGO, nonexistent="shift_forward")
    # read with the pre-gap offset (CST, -6): 08:30 UTC == 03:30 CDT
    assert out.rows() == [(dt.datetime(2024, 3, 10, 8, 30, tzinfo=UTC), None)]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("earliest", (dt.datetime(2024, 11, 3, 6, 30, tzinfo=UTC), None)),
        ("latest", (dt.datetime(2024, 11, 3, 7, 30, tzinfo=UTC), None)),
        ("quarantine", (None, "ambiguous_local_time")),
    ],
)
def test_fall_back_repeat(policy, expected):
    assert _run(["2024-11-03 01:30:00"], **CHICAGO, ambiguous=policy).row(0) == expected


def test_shanghai_no_dst_and_mixed_good_bad():
    out = _run(
        ["2024-03-10 02:30:00", "not a time", None, "", "2024-07-01T08:00:00+08:00", "2024/07/01 08:00:00"],
        timezone="Asia/Shanghai",
    )
    assert out["ts"].to_list() == [
        dt.datetime(2024, 3, 9, 18, 30, tzinfo=UTC),
        None,
        None,
        None,
        dt.datetime(2024, 7, 1, 0, 0, tzinfo=UTC),
        dt.datetime(2024, 7, 1, 0, 0, tzinfo=UTC),
    ]
    assert out["check"].to_list() == [None, "bad_timestamp", None, None, None, None]


def test_declared_format_and_fraction():
    out = _run(["31.12.2024 23:59:59.5", "2024-12-31 23:59:59"], timezone="UTC", fmt="%d.%m.%Y %H:%M:%S%.f")
    assert out.rows() == [
        (dt.datetime(2024, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), None),
        (None, "bad_timestamp"),
    ]


def test_infer_format():
    s = pl.Series(["03/10/2024 14:05", "03/11/2024 09:00", "junk"])
    assert infer_format(s) == "%m/%d/%Y %H:%M"
    assert infer_format(pl.Series(["2024-01-01T00:00:00Z"])) == "%Y-%m-%dT%H:%M:%S%.f%#z"


def test_datetime_and_epoch_inputs():
    df = pl.DataFrame(
        {
            "naive": [dt.datetime(2024, 1, 1, 8)],
            "aware": [dt.datetime(2024, 1, 1, 8, tzinfo=UTC)],
            "epoch_s": [1_704_067_200],
            "epoch_ms": [1_704_067_200_000],
        }
    )
    out = df.select(
        parse_local_to_utc(c, timezone="Asia/Shanghai", dtype=df.schema[c]).alias(c) for c in df.columns
    )
    assert out.row(0) == (
        dt.datetime(2024, 1, 1, 0, tzinfo=UTC),
        dt.datetime(2024, 1, 1, 8, tzinfo=UTC),
        dt.datetime(2024, 1, 1, 0, tzinfo=UTC),
        dt.datetime(2024, 1, 1, 0, tzinfo=UTC),
    )
    assert out.schema["naive"] == pl.Datetime("us", "UTC")


def test_two_digit_years_need_a_window():
    df = pl.DataFrame({"t": ["24-03-05 10:00:00", "99-12-31 00:00:00", "2024-03-05 10:00:00"]})
    kw = {"timezone": "UTC", "fmt": "%Y-%m-%d %H:%M:%S%.f"}
    out = df.select(
        bare=parse_local_to_utc("t", **kw),
        check=time_check("t", **kw),
        w2000=parse_local_to_utc("t", two_digit_year=2000, **kw),
        w1950=parse_local_to_utc("t", two_digit_year=1950, **kw),
    )
    assert out["bare"].dt.year().to_list() == [None, None, 2024]  # never year 0024
    assert out["check"].to_list() == ["two_digit_year", "two_digit_year", None]
    assert out["w2000"].dt.year().to_list() == [2024, 2099, 2024]
    assert out["w1950"].dt.year().to_list() == [2024, 1999, 2024]
