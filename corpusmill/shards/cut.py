"""Cutting items into runs of the item order: items to pools (rule 5), pools to shards (rule 4).

Every cut is by tokens along the sorted ``item_id`` order: :func:`_cut_points` puts each item in
the bucket its token midpoint falls in, so each cut lies within half an item of its target.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import polars as pl

from corpusmill.shards.model import MIB, SHARDS_SCHEMA, PoolCost

if TYPE_CHECKING:
    from corpusmill.compute import Catalog, TrainingJob
    from corpusmill.shards.model import ShardPlan


def _cut_points(tokens: pl.Series, targets: list[float]) -> pl.Series:
    """Index of the target bucket each item falls in, cutting the cumulative tokens at the
    running sum of ``targets`` (rescaled to the tokens at hand); an item goes where its midpoint
    lies, so each cut is within half an item of the target."""
    total = float(tokens.sum())
    scale = total / sum(targets) if sum(targets) > 0 else 0.0
    bounds, acc = [], 0.0
    for t in targets[:-1]:
        acc += t * scale
        bounds.append(acc)
    mid = tokens.cast(pl.Float64).cum_sum() - tokens.cast(pl.Float64) / 2
    return pl.Series(bounds, dtype=pl.Float64).search_sorted(mid, side="right").cast(pl.Int64)


def _assign_items(
    items: pl.DataFrame, targets: dict[str, float], previous: ShardPlan | None
) -> tuple[pl.Series, float, float]:
    names = sorted(targets)
    if previous is None:
        idx = _cut_points(items["n_tokens"], [targets[n] for n in names])
        pool = pl.Series("pool", names, dtype=pl.String).gather(idx)
        return pool, 0.0, 0.0

    prev = previous.assignment.select("item_id", pl.col("pool").alias("prev_pool"))
    df = items.join(prev, on="item_id", how="left", maintain_order="left")
    # keep each pool's previous items, in item order, while they fit its new target
    df = df.with_columns(
        stay=pl.col("prev_pool").is_in(names)
        & (
            (pl.col("n_tokens").cum_sum() - pl.col("n_tokens") / 2).over("prev_pool")
            <= pl.col("prev_pool").replace_strict(targets, default=0.0, return_dtype=pl.Float64)
        )
    )
    kept = df.filter(pl.col("stay")).group_by("prev_pool").agg(pl.col("n_tokens").sum())
    kept_tokens = dict(zip(kept["prev_pool"].to_list(), kept["n_tokens"].to_list(), strict=True))
    deficits = {n: max(targets[n] - kept_tokens.get(n, 0), 0.0) for n in names}
    open_pools = [n for n in names if deficits[n] > 0] or names
    loose = df.filter(~pl.col("stay"))
    new_pool = pl.Series("pool", [], dtype=pl.String)
    if loose.height:
        idx = _cut_points(loose["n_tokens"], [deficits[n] for n in open_pools] or [1.0])
        new_pool = pl.Series("pool", open_pools, dtype=pl.String).gather(idx)
    loose = loose.with_columns(pool=new_pool)
    df = pl.concat(
        [df.filter(pl.col("stay")).with_columns(pool=pl.col("prev_pool")), loose], how="vertical"
    ).sort("item_id")
    moved = df.filter(pl.col("prev_pool").is_not_null() & (pl.col("prev_pool") != pl.col("pool")))
    new = df.filter(pl.col("prev_pool").is_null())
    return df["pool"], float(moved["n_bytes"].sum()), float(new["n_bytes"].sum())


def _cut_pool(
    pool_items: pl.DataFrame, devices: int, cap_bytes: float
) -> tuple[pl.DataFrame, list[str]]:
    """Cut one pool's items into k x devices shards of equal tokens, each under ``cap_bytes``."""
    warnings: list[str] = []
    n_bytes = float(pool_items["n_bytes"].sum())
    k = max(1, math.ceil(n_bytes / (devices * cap_bytes)))
    for _ in range(8):
        n = min(k * devices, pool_items.height)
        local = _cut_points(pool_items["n_tokens"], [1.0] * n)
        cut = pool_items.with_columns(local=local)
        biggest = cut.group_by("local").agg(pl.col("n_bytes").sum())["n_bytes"].max()
        if biggest <= cap_bytes or n == pool_items.height:
            break
        k += max(1, math.ceil(k * (biggest / cap_bytes - 1)))
    if pool_items.height < devices:
        warnings.append(f"only {pool_items.height} items for {devices} devices; some sit idle")
    elif n % devices:
        warnings.append(f"{n} shards is not a multiple of {devices} devices (too few items)")
    if biggest > cap_bytes:
        warnings.append(
            f"a shard of {biggest / MIB:.1f} MiB exceeds the {cap_bytes / MIB:.1f} MiB cap"
        )
    # renumber densely: with very uneven items a token cut can leave a bucket empty
    cut = cut.with_columns(local=pl.col("local").rank("dense").cast(pl.Int64) - 1)
    return cut, warnings


def _shard_rows(
    assigned: pl.DataFrame, costs: dict[str, PoolCost], job: TrainingJob, catalog: Catalog
) -> pl.DataFrame:
    meta = pl.DataFrame(
        {
            "pool": [c.name for c in costs.values()],
            "region": [c.pool.region for c in costs.values()],
            "devices": [c.pool.count for c in costs.values()],
            # tokens per wall-clock hour of ONE device
            "_dev_rate": [c.rate / c.pool.count for c in costs.values()],
        },
        schema_overrides={"devices": pl.Int64},
    )
    shards = (
        assigned.group_by("shard_id", "pool")
        .agg(
            samples=pl.len().cast(pl.Int64),
            tokens=pl.col("n_tokens").sum(),
            bytes=pl.col("n_bytes").sum(),
            first_item=pl.col("item_id").min(),
            last_item=pl.col("item_id").max(),
            local=pl.col("local").first(),
        )
        .join(meta, on="pool", how="left")
        .with_columns(
            rank=pl.col("local") % pl.col("devices"),
            predicted_hours=pl.col("tokens") * job.epochs / pl.col("_dev_rate"),
            file=pl.lit(None, dtype=pl.String),
        )
        .sort("shard_id")
    )
    return shards.select([pl.col(c).cast(t) for c, t in SHARDS_SCHEMA.items()])
