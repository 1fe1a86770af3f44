"""Leak-free splits: deterministic (hash-ranked) hold-outs and time boundaries."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import polars as pl


def stable_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def boundaries(starts: pl.Series, fracs: tuple[float, ...]) -> list[int | None]:
    """Boundary times: the start of the window at index round(n * frac) (None past the end)."""
    n = starts.len()
    out: list[int | None] = []
    for f in fracs:
        k = round(n * f)
        out.append(int(starts[k]) if k < n else None)
    return out


def split_by_time(
    mine: pl.DataFrame, cuts: list[int | None], names: tuple[str, ...], horizon: int
) -> pl.DataFrame:
    """Segment i holds windows with start >= cut[i-1] and end + horizon <= cut[i]."""
    split = pl.lit(None, pl.String)
    why = pl.lit(None, pl.String)
    # walk boundaries from the last: a window is in the latest segment whose boundary it starts at
    label_end = pl.col("end") + horizon
    for i in range(len(names) - 1, -1, -1):
        lo = cuts[i - 1] if i > 0 else None
        hi = cuts[i] if i < len(cuts) else None
        ok = pl.lit(True)
        if lo is not None:
            ok = ok & (pl.col("start") >= lo)
        if hi is not None:
            ok = ok & (label_end <= hi)
        split = pl.when(ok).then(pl.lit(names[i])).otherwise(split)
    for i, t in enumerate(cuts):
        if t is None:
            continue
        crosses = (pl.col("start") < t) & (label_end > t)
        why = pl.when(crosses).then(
            pl.lit(f"straddles split boundary {names[i]}|{names[i + 1]} at {iso(t)} "
                   "(window end + horizon is past it)")
        ).otherwise(why)
    return mine.select("equipment_id", "start", split=split, why=why).with_columns(
        split=pl.when(pl.col("why").is_null()).then("split")
    )


def iso(us: int) -> str:
    t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    return t.isoformat().replace("+00:00", "Z")
