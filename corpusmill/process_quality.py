"""``process_quality``: one row per lot, batch or work order, its process features next to its outcome.

Each unit of production is matched to the sensor data that made it, then to what its inspection
found:

- a *batch* (sensor readings carrying ``batch_id``) is featured over its relative clock
  (``t_offset_s``, or ``sample_index`` when a source only numbers its samples);
- an *event* (a ``production_events`` row) is featured over the readings of its equipment between
  ``start_utc`` and ``end_utc`` (a backward ``join_asof`` on the equipment's events, so each
  reading belongs to at most one event).

Per signal the features are ``mean``, ``min``, ``max``, ``std``, ``last``, ``slope`` (least-squares,
value per second of the unit's clock, per sample when only ``sample_index`` is known) and
``time_above`` (seconds, or samples, above the signal's declared limit). Lot keys are spelled
differently across files, so every key is normalised by a declared rule (strip, upper case, then
aliases) before the join; the outcome is joined by the normalised key to ``quality_inspections``:
``result`` is ``fail`` when any inspection of the lot failed, ``defect_codes`` are the distinct codes
and ``measurements`` the mean value per characteristic.

The split is by the normalised lot key (a deterministic SHA-256 rank), so a lot is never on two
sides. Units with no outcome (unless ``require_outcome`` is off) or no sensor data are excluded
with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from corpusmill.byequipment import ByEquipment
from corpusmill.corpus import BuildResult
from corpusmill.splits import split_by_key

UTC_TS = pl.Datetime("us", "UTC")
FEATURES = ("mean", "min", "max", "std", "last", "slope", "time_above")

NO_OUTCOME = "no_outcome"
NO_SENSOR_DATA = "no_sensor_data"
EXCLUSION_CHECKS = (NO_OUTCOME, NO_SENSOR_DATA)

FEATURE = pl.Struct({"signal": pl.String, "feature": pl.String, "value": pl.Float64})
MEASUREMENT = pl.Struct({"characteristic": pl.String, "value": pl.Float64, "n": pl.Int64})

PROCESS_QUALITY_SCHEMA = pl.Schema({
    "unit_id": pl.String,  # "batch:<equipment_id>#<batch key>" or "event:<event_id>"
    "kind": pl.String,  # batch | event
    "lot_key": pl.String,  # the normalised lot key outcomes are joined on
    "lot_id": pl.String,  # as spelled in the production record (or the batch id)
    "equipment_id": pl.String,
    "product": pl.String,
    "start_utc": UTC_TS,  # null for batches on a relative clock
    "end_utc": UTC_TS,
    "duration_s": pl.Float64,  # on the unit's clock (samples when only sample_index is known)
    "n_readings": pl.Int64,
    "signals": pl.List(pl.String),
    "features": pl.List(FEATURE),
    "result": pl.String,  # pass | fail | null (no outcome, kept only when require_outcome is off)
    "n_inspections": pl.Int64,
    "defect_codes": pl.List(pl.String),
    "measurements": pl.List(MEASUREMENT),
    "split": pl.String,
})  # fmt: skip

EXCLUDED_SCHEMA = pl.Schema({
    "unit_id": pl.String, "kind": pl.String, "lot_key": pl.String, "equipment_id": pl.String,
    "n_readings": pl.Int64, "n_inspections": pl.Int64, "reason": pl.String, "check": pl.String,
})  # fmt: skip

KEY_RULE_FIELDS = {"strip", "upper", "aliases"}


@dataclass(frozen=True)
class ProcessQualityConfig:
    """Settings of ``process_quality`` (the ``corpora.process_quality`` block of the sources file).

    Attributes
    ----------
    keys
        ``{"lot": {"strip": bool, "upper": bool, "aliases": {spelling: key}}}``: how lot keys are
        normalised in every table before they are joined. Aliases are looked up after strip/upper.
    limits
        Signal -> limit in SI units; ``time_above`` is the time the signal spent above it
        (null for a signal without a limit).
    features
        Which features to compute, a subset of :data:`FEATURES`.
    require_outcome
        Exclude units with no inspection (``no_outcome``); off, they are kept with a null result.
    val_fraction, test_fraction
        Share of lot keys held out, ranked by SHA-256 of ``seed`` and the key.
    seed
        Salt of the split hash.
    """

    keys: dict = field(default_factory=lambda: {"lot": {"strip": True, "upper": True,
                                                        "aliases": {}}})  # fmt: skip
    limits: dict = field(default_factory=dict)
    features: tuple = FEATURES
    require_outcome: bool = True
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.keys) - {"lot"}
        if unknown:
            msg = f"keys: unknown key kind(s) {sorted(unknown)}; only 'lot' is normalised"
            raise ValueError(msg)
        rule = self.keys.get("lot", {})
        if not isinstance(rule, dict) or set(rule) - KEY_RULE_FIELDS:
            msg = f"keys.lot: expected a mapping with {sorted(KEY_RULE_FIELDS)}, got {rule!r}"
            raise ValueError(msg)
        if not isinstance(rule.get("aliases", {}), dict):
            msg = "keys.lot.aliases: expected a mapping spelling -> lot key"
            raise ValueError(msg)
        bad = [f for f in self.features if f not in FEATURES]
        if bad or not self.features:
            msg = f"features: unknown {bad}; choose from {list(FEATURES)}"
            raise ValueError(msg)
        for signal, limit in self.limits.items():
            if isinstance(limit, bool) or not isinstance(limit, int | float):
                msg = f"limits.{signal}: expected a number (SI units), got {limit!r}"
                raise ValueError(msg)
        if not (0 <= self.val_fraction and 0 <= self.test_fraction
                and self.val_fraction + self.test_fraction < 1):  # fmt: skip
            msg = "val_fraction and test_fraction must be >= 0 and sum to less than 1"
            raise ValueError(msg)


def normalise_key(expr: pl.Expr, config: ProcessQualityConfig) -> pl.Expr:
    """The lot key ``expr`` normalised by ``config.keys['lot']`` (strip, upper, then aliases)."""
    rule = config.keys.get("lot", {})
    out = expr.cast(pl.String)
    if rule.get("strip", True):
        out = out.str.strip_chars()
    if rule.get("upper", True):
        out = out.str.to_uppercase()
    aliases = rule.get("aliases") or {}
    if aliases:
        norm = {_norm_text(k, rule): _norm_text(v, rule) for k, v in aliases.items()}
        out = out.replace(norm)
    return pl.when(out == "").then(None).otherwise(out)


def _norm_text(text: Any, rule: Mapping[str, Any]) -> str:
    text = str(text)
    if rule.get("strip", True):
        text = text.strip()
    return text.upper() if rule.get("upper", True) else text


def _features(readings: pl.DataFrame, unit: str, config: ProcessQualityConfig) -> pl.DataFrame:
    """Per ``unit`` and signal, the features; ``readings`` has unit, signal, t, value."""
    limits = pl.DataFrame(
        {"signal": list(config.limits), "limit": [float(v) for v in config.limits.values()]},
        schema={"signal": pl.String, "limit": pl.Float64},
    )
    r = (
        readings.filter(pl.col("value").is_not_null() & pl.col("t").is_not_null())
        .sort(unit, "signal", "t")
        .join(limits, on="signal", how="left")
        # a sample's time step: until the next sample (the last one repeats the one before it)
        .with_columns(dt=pl.col("t").diff(-1).abs().over(unit, "signal"))
        .with_columns(dt=pl.col("dt").fill_null(strategy="forward").over(unit, "signal")
                      .fill_null(0.0))
    )  # fmt: skip
    t, v = pl.col("t"), pl.col("value")
    cov = ((t - t.mean()) * (v - v.mean())).sum()
    var = ((t - t.mean()) ** 2).sum()
    exprs = {
        "mean": v.mean(), "min": v.min(), "max": v.max(), "std": v.std(), "last": v.last(),
        "slope": pl.when(var > 0).then(cov / var),
        "time_above": pl.when(pl.col("limit").first().is_not_null())
        .then(pl.col("dt").filter(v > pl.col("limit")).sum()),
    }  # fmt: skip
    per_signal = r.group_by(unit, "signal").agg(
        *(exprs[f].cast(pl.Float64).alias(f) for f in config.features)
    )
    long = per_signal.unpivot(index=[unit, "signal"], variable_name="feature", value_name="value")
    order = {f: i for i, f in enumerate(config.features)}
    long = long.with_columns(pl.col("feature").replace_strict(order, return_dtype=pl.Int64)
                             .alias("_o")).sort(unit, "signal", "_o")  # fmt: skip
    return long.group_by(unit).agg(
        pl.col("signal").unique(maintain_order=True).alias("signals"),
        pl.struct("signal", "feature", "value").alias("features"),
    )


def _outcomes(inspections: pl.DataFrame, config: ProcessQualityConfig) -> pl.DataFrame:
    q = inspections.with_columns(lot_key=normalise_key(pl.col("lot_id"), config)).filter(
        pl.col("lot_key").is_not_null()
    )
    meas = (
        q.filter(pl.col("characteristic").is_not_null())
        .group_by("lot_key", "characteristic")
        .agg(value=pl.col("value").mean(), n=pl.col("value").count().cast(pl.Int64))
        .sort("lot_key", "characteristic")
        .group_by("lot_key")
        .agg(measurements=pl.struct("characteristic", "value", "n"))
    )
    res = pl.col("result").str.to_lowercase()
    return (
        q.group_by("lot_key")
        .agg(
            result=pl.when((res == "fail").any()).then(pl.lit("fail"))
            .when((res == "pass").any()).then(pl.lit("pass")),
            n_inspections=pl.len().cast(pl.Int64),
            defect_codes=pl.col("defect_code").drop_nulls().unique().sort(),
        )
        .join(meas, on="lot_key", how="left")
    )  # fmt: skip


def _group_units(
    readings: pl.DataFrame, starts: pl.DataFrame, config: ProcessQualityConfig
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """For the readings of some machines: their batch units, the readings per event unit, and
    the features of both (``starts``: every event's equipment, start, end and unit id)."""
    # -- batches: readings that carry a batch id, on their relative clock ------------------------
    batch = readings.filter(pl.col("batch_id").is_not_null()).with_columns(
        # batch numbers repeat across machines (batch 1 of the dryer, of the autoclave)
        unit_id=pl.lit("batch:") + pl.col("equipment_id").fill_null("?") + pl.lit("#")
        + normalise_key(pl.col("batch_id"), config),
        t=pl.coalesce(pl.col("t_offset_s"), pl.col("sample_index").cast(pl.Float64)),
    )
    batch_units = batch.group_by("unit_id").agg(
        kind=pl.lit("batch"),
        lot_key=normalise_key(pl.col("batch_id").first(), config),
        lot_id=pl.col("batch_id").first(),
        equipment_id=pl.col("equipment_id").drop_nulls().first(),
        product=pl.lit(None, pl.String),
        start_utc=pl.lit(None, UTC_TS),
        end_utc=pl.lit(None, UTC_TS),
        duration_s=(pl.col("t").max() - pl.col("t").min()).cast(pl.Float64),
        n_readings=pl.len().cast(pl.Int64),
    )
    # -- events: each timed reading joins the latest event of its equipment started before it --
    timed = readings.filter(
        pl.col("batch_id").is_null() & pl.col("ts_utc").is_not_null()
        & pl.col("equipment_id").is_not_null()
    ).sort("ts_utc")  # fmt: skip
    joined = (
        timed.join_asof(starts, left_on="ts_utc", right_on="start_utc", by="equipment_id",
                        strategy="backward", check_sortedness=False)  # both sorted
        .filter(pl.col("unit_id").is_not_null() & (pl.col("ts_utc") <= pl.col("end_utc")))
        .with_columns(t=(pl.col("ts_utc") - pl.col("start_utc")).dt.total_microseconds() / 1e6)
    )  # fmt: skip
    counts = joined.group_by("unit_id").agg(n_readings=pl.len().cast(pl.Int64))
    cols = ["unit_id", "signal", "t", "value"]
    feats = _features(pl.concat([batch.select(cols), joined.select(cols)]), "unit_id", config)
    return batch_units, counts, feats


def build_process_quality(
    readings: pl.DataFrame | ByEquipment,
    events: pl.DataFrame,
    inspections: pl.DataFrame,
    *,
    config: ProcessQualityConfig,
) -> BuildResult:
    """Build ``process_quality`` from canonical sensor readings, production events and inspections.

    ``readings`` may be a :class:`ByEquipment`, read one group of machines at a time: a batch or
    an event belongs to one machine, so each group gives its units' features, and memory holds one
    group's readings and the (far smaller) features of every unit.
    """
    ev = events.filter(
        pl.col("event_id").is_not_null() & pl.col("start_utc").is_not_null()
        & pl.col("end_utc").is_not_null() & pl.col("equipment_id").is_not_null()
    ).with_columns(unit_id=pl.lit("event:") + pl.col("event_id"))  # fmt: skip
    starts = ev.select("equipment_id", "start_utc", "end_utc", "unit_id").sort("start_utc")
    batch_parts, count_parts, feat_parts = [], [], []
    for group in ByEquipment.of(readings):
        batch_units, counts, feats = _group_units(group, starts, config)
        batch_parts.append(batch_units)
        count_parts.append(counts)
        feat_parts.append(feats)
        del group
    batch_units = pl.concat(batch_parts)
    counts = pl.concat(count_parts)
    feats = pl.concat(feat_parts)
    event_units = ev.select(
        "unit_id", kind=pl.lit("event"), lot_key=normalise_key(pl.col("lot_id"), config),
        lot_id="lot_id", equipment_id="equipment_id", product="product", start_utc="start_utc",
        end_utc="end_utc",
        duration_s=(pl.col("end_utc") - pl.col("start_utc")).dt.total_microseconds() / 1e6,
    ).join(counts, on="unit_id", how="left").with_columns(pl.col("n_readings").fill_null(0))
    units = pl.concat([batch_units, event_units], how="diagonal_relaxed").unique(
        "unit_id", keep="first", maintain_order=True
    )
    out = (
        units.join(feats, on="unit_id", how="left")
        .join(_outcomes(inspections, config), on="lot_key", how="left")
        .with_columns(pl.col("n_inspections").fill_null(0))
    )
    no_data = pl.col("n_readings") == 0
    no_outcome = pl.col("n_inspections") == 0
    if not config.require_outcome:
        no_outcome = pl.lit(False)
    why = (
        pl.when(no_data).then(pl.lit(NO_SENSOR_DATA))
        .when(no_outcome).then(pl.lit(NO_OUTCOME))
    )  # fmt: skip
    reason = (
        pl.when(no_data).then(pl.lit("no sensor readings of its equipment in its start-end window"))
        .when(no_outcome).then(pl.lit("no quality inspection of lot ") + pl.col("lot_key"))
    )  # fmt: skip
    out = out.with_columns(check=why, reason=reason)
    excluded = (
        out.filter(pl.col("check").is_not_null())
        .select(list(EXCLUDED_SCHEMA))
        .cast(dict(EXCLUDED_SCHEMA))
        .sort("unit_id")
    )
    kept = out.filter(pl.col("check").is_null())
    kept = kept.with_columns(split=split_by_key(
        kept["lot_key"], seed=config.seed, test_fraction=config.test_fraction,
        val_fraction=config.val_fraction,
    )).select(
        [pl.col(c).cast(t) for c, t in PROCESS_QUALITY_SCHEMA.items()]
    ).sort("unit_id")
    stats = {
        "units": out.height,
        "rows": kept.height,
        "excluded": excluded.height,
        "batches": int((kept["kind"] == "batch").sum()),
        "events": int((kept["kind"] == "event").sum()),
        "failing": int((kept["result"] == "fail").sum()),
    }
    return BuildResult(kept, excluded, stats)
