"""Cutting, labelling and splitting windows (see the package docstring for the rules)."""

from __future__ import annotations

from typing import Any

import polars as pl

from corpusmill.byequipment import ByEquipment
from corpusmill.corpus import BuildResult
from corpusmill.windows.config import Checked, WindowConfig
from corpusmill.windows.split import boundaries, iso, split_by_time, stable_hash

UTC_TS = pl.Datetime("us", "UTC")

WINDOWS_SCHEMA = pl.Schema(
    {
        "window_id": pl.String(),
        "equipment_id": pl.String(),
        "start_utc": UTC_TS,
        "end_utc": UTC_TS,
        "channels": pl.List(pl.String()),
        "values": pl.List(pl.List(pl.Float64())),
        "n_steps": pl.Int64(),
        "label": pl.Int8(),
        "label_reason": pl.String(),
        "split": pl.String(),
        "batch_id": pl.String(),
        "t_offset_start_s": pl.Float64(),
    }
)
EXCLUDED_SCHEMA = pl.Schema(
    {
        "equipment_id": pl.String(),
        "start_utc": UTC_TS,
        "batch_id": pl.String(),
        "t_offset_start_s": pl.Float64(),
        "reason": pl.String(),
        "check": pl.String(),  # the reason's code: low_coverage | failure | straddles
    }
)

#: Every ``check`` an excluded window may carry.
EXCLUSION_CHECKS = ("low_coverage", "failure", "straddles")


def build_windows(
    readings: pl.DataFrame | ByEquipment,
    maintenance: pl.DataFrame,
    *,
    config: WindowConfig = WindowConfig(),  # noqa: B008 - frozen dataclass, safe default
) -> BuildResult:
    """Cut labelled, split windows from canonical sensor readings.

    Parameters
    ----------
    readings
        Canonical ``sensor_readings`` (ts_utc or batch_id + t_offset_s, equipment_id, signal,
        value); extra columns are ignored. A :class:`ByEquipment` is read one group of machines
        at a time: the windows, coverage and labels of a machine need only its own readings, so
        memory holds one group's readings and every group's (far smaller) windows.
    maintenance
        Canonical ``maintenance_records``; corrective records are the failures labels look for.
    config
        See :class:`WindowConfig`.

    Returns
    -------
    BuildResult
        ``frame`` (schema :data:`WINDOWS_SCHEMA`), ``excluded`` (one row per dropped candidate
        window, with the reason and its code in ``check``) and ``stats``.
    """
    cfg = Checked.of(config)
    fail = _failures(maintenance, cfg.cfg)
    stats: dict[str, Any] = {"readings": 0, "readings_absolute": 0, "readings_relative": 0,
                             "readings_unusable": 0, "n_steps": cfg.n_steps}  # fmt: skip
    # candidates per group of machines (everything up to the splits is per machine) ...
    absolute: list[pl.DataFrame] = []
    relative: list[pl.DataFrame] = []
    starts = {"absolute": 0, "relative": 0}
    for group in ByEquipment.of(readings):
        on_clock, on_batch = _clocks(group)
        stats["readings"] += group.height
        stats["readings_absolute"] += on_clock.height
        stats["readings_relative"] += on_batch.height
        stats["readings_unusable"] += group.height - on_clock.height - on_batch.height
        if on_clock.height:
            w, n = _absolute_candidates(on_clock, fail, cfg)
            absolute.append(w)
            starts["absolute"] += n
        if on_batch.height:
            w, n = _relative_candidates(on_batch, cfg)
            relative.append(w)
            starts["relative"] += n
        del group, on_clock, on_batch
    # ... then the splits, which look at every machine's (or batch's) windows at once
    parts, excluded = [], []
    if absolute:
        w, x, s = _absolute(pl.concat(absolute), starts["absolute"], fail, cfg)
        parts.append(w)
        excluded.append(x)
        stats.update(s)
    if relative:
        w, x, s = _relative(pl.concat(relative), starts["relative"], cfg)
        parts.append(w)
        excluded.append(x)
        stats.update(s)
    windows = (
        pl.concat([p.select(list(WINDOWS_SCHEMA)) for p in parts])
        if parts
        else pl.DataFrame(schema=WINDOWS_SCHEMA)
    ).sort("equipment_id", "start_utc", "batch_id", "t_offset_start_s", nulls_last=True)
    code = pl.col("reason").str.extract(r"^([a-z_]+)").alias("check")
    excl = (
        pl.concat([x.with_columns(code).select(list(EXCLUDED_SCHEMA)) for x in excluded])
        if excluded
        else pl.DataFrame(schema=EXCLUDED_SCHEMA)
    ).sort("equipment_id", "start_utc", "batch_id", "t_offset_start_s", nulls_last=True)

    stats["windows"] = windows.height
    stats["excluded"] = excl.height
    stats["excluded_by_reason"] = dict(
        sorted(
            excl.group_by("check").len().iter_rows()
        )
    )
    stats["by_split"] = {
        s: {
            "windows": int((windows["split"] == s).sum()),
            "positives": int(windows.filter(pl.col("split") == s)["label"].sum() or 0),
        }
        for s in ("train", "val", "test")
    }
    return BuildResult(frame=windows, excluded=excl, stats=stats)


def _clocks(readings: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The usable readings on an absolute clock (ts_utc) and on a batch's relative clock."""
    r = readings.select(
        pl.col("ts_utc").cast(UTC_TS) if "ts_utc" in readings.columns else pl.lit(None, UTC_TS),
        *[
            (pl.col(c) if c in readings.columns else pl.lit(None)).cast(t).alias(c)
            for c, t in (
                ("batch_id", pl.String()),
                ("t_offset_s", pl.Float64()),
                ("equipment_id", pl.String()),
                ("signal", pl.String()),
                ("value", pl.Float64()),
            )
        ],
    ).filter(pl.col("equipment_id").is_not_null() & pl.col("signal").is_not_null())
    absolute = r.filter(pl.col("ts_utc").is_not_null())
    relative = r.filter(
        pl.col("ts_utc").is_null() & pl.col("batch_id").is_not_null()
        & pl.col("t_offset_s").is_not_null()
    )  # fmt: skip
    return absolute, relative


def _cells(
    obs: pl.DataFrame, keys: list[str], c: Checked, *, anchored: bool
) -> tuple[pl.DataFrame, int]:
    """Candidate windows of ``obs`` (keys, signal, t [int us], value) with their channel values.

    Returns one row per window with data (keys, start [int us], channels, values, n_obs) and the
    number of window starts looked at (those without any value are not candidates).
    ``anchored`` starts windows at 0 (batch start) rather than at the first step before the data.
    """
    obs = obs.filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())
    means = (
        obs.with_columns(bucket=(pl.col("t") // c.res) * c.res)
        .group_by(*keys, "signal", "bucket")
        .agg(pl.col("value").mean())
    )
    spans = means.group_by(keys).agg(
        first=pl.col("bucket").min(),
        last=pl.col("bucket").max(),
        channels=pl.col("signal").unique().sort(),
    )
    first = pl.lit(0, pl.Int64) if anchored else (pl.col("first") // c.step) * c.step
    spans = spans.with_columns(s0=first).with_columns(
        starts=pl.int_ranges("s0", pl.col("last") + 1, c.step, dtype=pl.Int64)
    )
    grid = (
        spans.select(
            *keys,
            "channels",
            bucket=pl.int_ranges(
                "s0", pl.col("starts").list.last() + c.window, c.res, dtype=pl.Int64
            ),
        )
        .explode("bucket")
        .explode("channels")
        .rename({"channels": "signal"})
        .join(means, on=[*keys, "signal", "bucket"], how="left")
        .sort(*keys, "signal", "bucket")
        # forward fill at most one bucket: the grid is complete, so shift(1) is the bucket before
        .with_columns(
            v=pl.col("value").fill_null(pl.col("value").shift(1).over(*keys, "signal"))
        )
        .drop("value")
    )
    offsets = pl.DataFrame(
        {"offset": [i * c.res for i in range(c.n_steps)]}, schema={"offset": pl.Int64}
    )
    starts = (
        spans.select(*keys, start=pl.col("starts"))
        .explode("start")
        .join(offsets, how="cross")
        .with_columns(bucket=pl.col("start") + pl.col("offset"))
    )
    per_channel = (
        starts.join(grid, on=[*keys, "bucket"], how="inner")
        .group_by(*keys, "start", "signal")
        .agg(vals=pl.col("v").sort_by("bucket"), n=pl.col("v").count())
    )
    n_starts = int(spans["starts"].list.len().sum() or 0)
    return (
        per_channel.group_by(*keys, "start")
        .agg(
            channels=pl.col("signal").sort(),
            values=pl.col("vals").sort_by("signal"),
            n_obs=pl.col("n").sum(),
        )
        .filter(pl.col("n_obs") > 0)
        .sort(*keys, "start")
    ), n_starts


def _coverage(w: pl.DataFrame, c: Checked) -> pl.DataFrame:
    cov = pl.col("n_obs") / (pl.col("channels").list.len() * c.n_steps)
    return w.with_columns(
        coverage=cov,
        reason=pl.when(cov < c.cfg.min_coverage).then(
            pl.format("low_coverage {} < {}", cov.round(2), pl.lit(c.cfg.min_coverage))
        ),
    )


def _absolute_candidates(
    obs: pl.DataFrame, fail: pl.DataFrame, c: Checked
) -> tuple[pl.DataFrame, int]:
    """The candidate windows of some machines' absolute-clock readings, with their coverage and
    labels (and the window starts looked at)."""
    obs = obs.with_columns(t=pl.col("ts_utc").dt.epoch("us"))
    w, n_starts = _cells(obs, ["equipment_id"], c, anchored=False)
    w = _coverage(w, c).with_columns(end=pl.col("start") + c.window)

    # labels: the earliest failure starting in [end, end + horizon); failures inside are excluded
    pairs = w.select("equipment_id", "start", "end").join(fail, on="equipment_id", how="inner")
    ahead = (
        pairs.filter((pl.col("f") >= pl.col("end")) & (pl.col("f") < pl.col("end") + c.horizon))
        .sort("f", "record_id")
        .group_by("equipment_id", "start")
        .agg(label_reason=pl.col("record_id").first())
    )
    inside = (
        pairs.filter((pl.col("f") >= pl.col("start")) & (pl.col("f") < pl.col("end")))
        .sort("f", "record_id")
        .group_by("equipment_id", "start")
        .agg(inside=pl.col("record_id").first())
    )
    w = (
        w.join(ahead, on=["equipment_id", "start"], how="left")
        .join(inside, on=["equipment_id", "start"], how="left")
        .with_columns(
            reason=pl.coalesce(
                "reason", pl.format("failure {} starts inside the window", pl.col("inside"))
            ),
            label=pl.col("label_reason").is_not_null().cast(pl.Int8),
        )
    )
    return w, n_starts


def _absolute(
    w: pl.DataFrame, n_starts: int, fail: pl.DataFrame, c: Checked
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Split every machine's candidate windows; the kept windows, the excluded, the stats."""
    cfg = c.cfg
    n_candidates = w.height
    # splits: hold out whole machines for test, then one time boundary per machine
    kept = w.filter(pl.col("reason").is_null())
    machines = sorted(kept["equipment_id"].unique().to_list())
    tr, va, te = cfg.split
    holdout = len(machines) >= cfg.min_equipment_for_holdout
    test_machines: list[str] = []
    if holdout and te > 0:
        n_test = min(max(1, round(len(machines) * te)), len(machines) - 1)
        ranked = sorted(machines, key=lambda m: (stable_hash(f"{cfg.seed}:{m}"), m))
        test_machines = sorted(ranked[:n_test])
    bounds: dict[str, dict[str, str]] = {}
    split_rows = []
    for m in machines:
        mine = kept.filter(pl.col("equipment_id") == m).sort("start")
        if m in test_machines:
            split_rows.append(
                mine.select(
                    "equipment_id", "start", split=pl.lit("test"), why=pl.lit(None, pl.String)
                )
            )
            continue
        fracs = (tr / (tr + va), 1.0) if holdout else (tr, tr + va)
        names = ("train", "val", "test") if not holdout else ("train", "val")
        cuts = boundaries(mine["start"], fracs[: len(names) - 1])
        bounds[m] = {
            f"{names[i]}|{names[i + 1]}": iso(t) for i, t in enumerate(cuts) if t is not None
        }
        split_rows.append(split_by_time(mine, cuts, names, c.horizon))
    splits = (
        pl.concat(split_rows)
        if split_rows
        else pl.DataFrame(
            schema={
                "equipment_id": pl.String, "start": pl.Int64, "split": pl.String, "why": pl.String
            }
        )
    )
    w = w.join(splits, on=["equipment_id", "start"], how="left").with_columns(
        reason=pl.coalesce("reason", "why")
    )

    to_ts = lambda col: pl.col(col).cast(UTC_TS)  # noqa: E731
    good = w.filter(pl.col("reason").is_null()).with_columns(
        window_id=pl.struct("equipment_id", "start").map_elements(
            lambda s: stable_hash(f"{s['equipment_id']}|{iso(s['start'])}"),
            return_dtype=pl.String,
        ),
        start_utc=to_ts("start"),
        end_utc=to_ts("end"),
        n_steps=pl.lit(c.n_steps, pl.Int64),
        batch_id=pl.lit(None, pl.String),
        t_offset_start_s=pl.lit(None, pl.Float64),
    )
    bad = w.filter(pl.col("reason").is_not_null()).select(
        "equipment_id",
        start_utc=to_ts("start"),
        batch_id=pl.lit(None, pl.String),
        t_offset_start_s=pl.lit(None, pl.Float64),
        reason="reason",
    )
    stats = {
        "equipment": len(machines),
        "split_mode": "equipment_holdout+time" if holdout else "time",
        "test_equipment": test_machines,
        "boundaries": bounds,
        "candidate_windows_absolute": n_candidates,
        "empty_windows_absolute": n_starts - n_candidates,
        "failures": fail.height,
    }
    return good, bad, stats


def _failures(maintenance: pl.DataFrame, cfg: WindowConfig) -> pl.DataFrame:
    """The corrective maintenance records (equipment_id, record_id, f: start in epoch us)."""
    cols = maintenance.columns
    need = {"record_id", "equipment_id", "maintenance_type"}
    if maintenance.is_empty() or not need <= set(cols):
        return pl.DataFrame(
            schema={"equipment_id": pl.String, "record_id": pl.String, "f": pl.Int64}
        )
    start = pl.coalesce(
        *[pl.col(c).cast(UTC_TS) for c in ("reported_utc", "completed_utc") if c in cols]
    )
    kinds = [k.lower() for k in cfg.failure_types]
    return (
        maintenance.filter(
            pl.col("maintenance_type").str.strip_chars().str.to_lowercase().is_in(kinds)
        )
        .select(
            pl.col("equipment_id").cast(pl.String),
            pl.col("record_id").cast(pl.String),
            f=start.dt.epoch("us"),
        )
        .filter(pl.col("f").is_not_null() & pl.col("equipment_id").is_not_null())
    )


def _relative_candidates(obs: pl.DataFrame, c: Checked) -> tuple[pl.DataFrame, int]:
    """The candidate windows of some machines' relative-clock batches, with their coverage."""
    obs = obs.with_columns(t=(pl.col("t_offset_s") * 1_000_000).round().cast(pl.Int64))
    w, n_starts = _cells(obs, ["equipment_id", "batch_id"], c, anchored=True)
    return _coverage(w, c), n_starts


def _relative(
    w: pl.DataFrame, n_starts: int, c: Checked
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Relative-clock batches: windows from the batch start, label 0, split by batch_id."""
    cfg = c.cfg
    batches = sorted(w["batch_id"].unique().to_list())
    ranked = sorted(batches, key=lambda b: (stable_hash(f"{cfg.seed}:{b}"), b))
    n = len(ranked)
    n_train = round(n * cfg.split[0])
    n_val = round(n * (cfg.split[0] + cfg.split[1])) - n_train
    which = {
        b: "train" if i < n_train else "val" if i < n_train + n_val else "test"
        for i, b in enumerate(ranked)
    }
    w = w.with_columns(
        split=pl.col("batch_id").replace_strict(which, return_dtype=pl.String),
        t_offset_start_s=pl.col("start") / 1_000_000,
    )
    good = w.filter(pl.col("reason").is_null()).with_columns(
        window_id=pl.struct("equipment_id", "batch_id", "t_offset_start_s").map_elements(
            lambda s: stable_hash(
                f"{s['equipment_id']}|batch={s['batch_id']}|{s['t_offset_start_s']!r}"
            ),
            return_dtype=pl.String,
        ),
        start_utc=pl.lit(None, UTC_TS),
        end_utc=pl.lit(None, UTC_TS),
        n_steps=pl.lit(c.n_steps, pl.Int64),
        label=pl.lit(0, pl.Int8),
        label_reason=pl.lit(None, pl.String),
    )
    bad = w.filter(pl.col("reason").is_not_null()).select(
        "equipment_id", start_utc=pl.lit(None, UTC_TS), batch_id="batch_id",
        t_offset_start_s="t_offset_start_s", reason="reason",
    )  # fmt: skip
    stats = {
        "batches": n,
        "batch_splits": {
            s: sorted(b for b, v in which.items() if v == s) for s in ("train", "val", "test")
        },
        "candidate_windows_relative": w.height,
        "empty_windows_relative": n_starts - w.height,
    }
    return good, bad, stats


