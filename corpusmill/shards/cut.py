"""Cutting items into runs of the item order: items to pools (rule 5), pools to shards (rule 4).

Every cut is by tokens along the sorted ``item_id`` order: :func:`_cut_points` puts each item in
the bucket its token midpoint falls in, so each cut lies within half an item of its target.
"""

from __future__ import annotations

import math
from dataclasses import replace
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
    shards = _aggregate(assigned, meta, hours=pl.col("tokens") * job.epochs / pl.col("_dev_rate"),
                        by_item_id=True)  # fmt: skip
    return shards.select([pl.col(c).cast(t) for c, t in SHARDS_SCHEMA.items()])


def _aggregate(
    items: pl.DataFrame,
    meta: pl.DataFrame,
    *,
    hours: pl.Expr,
    by_item_id: bool = False,
    **extra: pl.Expr,
) -> pl.DataFrame:
    """One row per shard from its items (``shard_id``, ``pool``, ``local``, sizes), joined to the
    pools' ``meta`` (``devices`` ...); ``hours`` predicts a shard's training hours.
    ``by_item_id``: the items are sorted by ``item_id``, so a group's first and last item are its
    smallest and largest (no string comparisons)."""
    ids = pl.col("item_id")
    first, last = (ids.first(), ids.last()) if by_item_id else (ids.min(), ids.max())
    return (
        items.group_by("shard_id")  # unique over pools; one integer key groups fastest
        .agg(
            pool=pl.col("pool").first(),
            samples=pl.len().cast(pl.Int64),
            tokens=pl.col("n_tokens").sum(),
            bytes=pl.col("n_bytes").sum(),
            first_item=first,
            last_item=last,
            local=pl.col("local").first(),
            **extra,
        )
        .join(meta, on="pool", how="left")
        .with_columns(
            rank=pl.col("local") % pl.col("devices"),
            predicted_hours=hours,
            file=pl.lit(None, dtype=pl.String),
        )
        .sort("shard_id")
    )


#: What :func:`stratify_shards` balances by default (columns a corpus lacks are skipped).
DEFAULT_STRATIFY_BY = ("site", "equipment_class", "label")
DEFAULT_TOLERANCE = 0.05
_NULL = "<null>"


def stratify_shards(
    plan: ShardPlan,
    frame: pl.DataFrame,
    items: pl.DataFrame,
    *,
    id_column: str,
    stratify_by: tuple[str, ...] = DEFAULT_STRATIFY_BY,
    tolerance: float = DEFAULT_TOLERANCE,
    split_column: str = "split",
) -> ShardPlan:
    """Re-cut each pool's shards so no shard mixes splits and each keeps its split's mix.

    Items stay on their pool (the pool shares are untouched). Within a pool, each split gets
    ``ceil(split bytes / the pool's mean shard bytes)`` shards, rounded up to a multiple of the
    pool's devices when it has the items; its items, sorted by stratum (the joint value of the
    ``stratify_by`` columns) and id, are dealt round-robin, so every shard holds its split's count
    of each stratum within one item. Shards of a pool are numbered split by split; device
    ``rank`` reads local shards ``rank, rank + devices, ...`` as before.

    Parameters
    ----------
    plan
        The plan to re-cut (from :func:`~corpusmill.shards.plan_shards`).
    frame
        The corpus rows (one per planned item), with the id, split and stratify columns.
    items
        The item list the plan was made from (``item_id``, ``n_tokens``, ``n_bytes``).
    id_column
        The corpus's id column.
    stratify_by
        Columns whose mix (share of samples per value) each shard keeps; absent ones are skipped
        and listed under ``ignored``.
    tolerance
        Declared limit of the deviation: the largest ``|share in shard - share in split|`` over
        every shard, column and value. The achieved figure is always reported, also above it.
    split_column
        Train/validation/test; without it the corpus is one split (``"all"``).

    Returns
    -------
    ShardPlan
        A new plan (new ``plan_id``) with ``summary["stratification"]``: ``by``, ``ignored``,
        ``tolerance``, ``max_deviation``, ``max_deviation_by_column``, ``within_tolerance``,
        ``shard_split`` (shard id -> split) and ``splits``. Above tolerance a warning names the
        worst shard. Without any stratify column and split column the plan is returned as is.
    """
    import hashlib
    import json

    if not 0 <= tolerance <= 1:
        msg = f"tolerance must be a share between 0 and 1, got {tolerance}"
        raise ValueError(msg)
    by = [c for c in stratify_by if c in frame.columns]
    ignored = [c for c in stratify_by if c not in frame.columns]
    has_split = split_column in frame.columns
    if not by and not has_split:
        summary = {**plan.summary, "stratification": {"by": [], "ignored": ignored}}
        return replace(plan, summary=summary)
    if id_column not in frame.columns:
        msg = f"corpus has no column {id_column!r}; columns: {', '.join(frame.columns)}"
        raise ValueError(msg)
    attrs = frame.select(
        pl.col(id_column).cast(pl.String).alias("item_id"),
        (pl.col(split_column).cast(pl.String) if has_split else pl.lit("all"))
        .fill_null(_NULL)
        .alias("_split"),
        *[pl.col(c).cast(pl.String).fill_null(_NULL).alias(f"_s_{c}") for c in by],
    )
    sizes = items.select(
        pl.col("item_id").cast(pl.String), pl.col("n_tokens").cast(pl.Int64),
        pl.col("n_bytes").cast(pl.Int64),
    )  # fmt: skip
    items = plan.assignment.join(sizes, on="item_id", how="left", maintain_order="left")
    items = items.join(attrs, on="item_id", how="left", maintain_order="left")
    if items["_split"].null_count() or items["n_tokens"].null_count():
        lost = items.filter(pl.col("_split").is_null() | pl.col("n_tokens").is_null())
        msg = (
            "corpus rows or items do not match the plan: planned items missing, e.g. "
            f"{lost['item_id'].head(3).to_list()}"
        )
        raise ValueError(msg)
    stratum = (
        pl.concat_str([pl.col(f"_s_{c}") for c in by], separator="\x1f") if by else pl.lit("")
    )
    items = items.with_columns(_stratum=stratum)

    meta = plan.shards.group_by("pool").agg(
        pl.col("region").first(),
        pl.col("devices").first(),
        n=pl.len(),
        b=pl.col("bytes").sum(),
        h_per_tok=(pl.col("predicted_hours").sum() / pl.col("tokens").sum()),
    )
    frames, next_id = [], 0
    for pool in meta.sort("pool").iter_rows(named=True):
        mine = items.filter(pl.col("pool") == pool["pool"])
        per_shard = max(pool["b"] / pool["n"], 1.0)
        local_base = 0
        for split in sorted(mine["_split"].unique().to_list()):
            part = mine.filter(pl.col("_split") == split).sort("_stratum", "item_id")
            n = max(1, math.ceil(float(part["n_bytes"].sum()) / per_shard))
            if part.height >= pool["devices"]:
                n = math.ceil(n / pool["devices"]) * pool["devices"]
            n = min(n, part.height)
            part = part.with_columns(local=pl.int_range(pl.len()) % n + local_base)
            frames.append(part.with_columns(shard_id=pl.col("local") + next_id))
            local_base += n
        next_id += local_base
    cut = pl.concat(frames).sort("item_id")

    shards = _aggregate(cut, meta, hours=pl.col("tokens") * pl.col("h_per_tok"),
                        split=pl.col("_split").first())  # fmt: skip
    shard_split = dict(shards.select("shard_id", "split").iter_rows())
    shards = shards.select([pl.col(c).cast(t) for c, t in SHARDS_SCHEMA.items()])
    counts = dict(shards.group_by("pool").len().iter_rows())
    pools = plan.pools.with_columns(
        shards=pl.col("pool").replace_strict(counts, default=0, return_dtype=pl.Int64)
    )

    by_col = {c: _max_deviation(cut, f"_s_{c}") for c in by}
    worst = max(by_col.values(), key=lambda d: d[0], default=(0.0, None, None, None))
    max_dev = worst[0]
    warnings = list(plan.summary.get("warnings", []))
    if max_dev > tolerance:
        col = next(c for c, d in by_col.items() if d == worst)
        warnings.append(
            f"stratification: shard {worst[1]} has {col}={worst[2]!r} at {worst[3]:.3f} off its "
            f"split's share (max deviation {max_dev:.3f} > tolerance {tolerance}); its shards are "
            "too small to hold the mix: raise target_shard_mib or lower the devices"
        )
    split_counts = cut.group_by("_split").agg(
        samples=pl.len(), shards=pl.col("shard_id").n_unique()
    )
    options = {
        "by": by, "tolerance": tolerance, "split_column": split_column if has_split else None
    }  # fmt: skip
    plan_id = hashlib.sha256(
        json.dumps({"plan": plan.plan_id, **options}, sort_keys=True).encode()
    ).hexdigest()[:16]
    summary = {
        **plan.summary,
        "plan_id": plan_id,
        "unstratified_plan_id": plan.plan_id,
        "n_shards": shards.height,
        "max_shard_mib": float(shards["bytes"].max()) / MIB,
        "mean_shard_mib": float(shards["bytes"].mean()) / MIB,
        "warnings": warnings,
        "stratification": {
            **options,
            "ignored": ignored,
            "max_deviation": max_dev,
            "max_deviation_by_column": {c: d[0] for c, d in by_col.items()},
            "within_tolerance": max_dev <= tolerance,
            "shard_split": {str(k): v for k, v in sorted(shard_split.items())},
            "splits": {
                s: {"samples": int(m), "shards": int(k)}
                for s, m, k in split_counts.sort("_split").iter_rows()
            },
        },
    }
    return replace(
        plan,
        plan_id=plan_id,
        shards=shards,
        pools=pools,
        summary=summary,
        assignment=cut.select("item_id", "pool", "shard_id"),
    )


def _max_deviation(cut: pl.DataFrame, column: str) -> tuple[float, int | None, str | None, float]:
    """The largest ``|share in shard - share in split|`` of ``column``'s values: (deviation,
    shard, value, deviation); every value of the split counts in every shard, present or not."""
    split_share = cut.group_by("_split", column).len().with_columns(
        want=pl.col("len") / pl.col("len").sum().over("_split")
    )
    shard_n = cut.group_by("_split", "shard_id").agg(total=pl.len())
    have = cut.group_by("shard_id", column).agg(k=pl.len())
    grid = (
        shard_n.join(split_share.select("_split", column, "want"), on="_split")
        .join(have, on=["shard_id", column], how="left")
        .with_columns(dev=(pl.col("k").fill_null(0) / pl.col("total") - pl.col("want")).abs())
        .sort("dev", "shard_id", column, descending=[True, False, False])
    )
    if grid.is_empty():
        return 0.0, None, None, 0.0
    top = grid.row(0, named=True)
    return float(top["dev"]), int(top["shard_id"]), top[column], float(top["dev"])

