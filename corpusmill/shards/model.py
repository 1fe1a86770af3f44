"""The shard plan, the schemas of its frames, and the error for a plan no pools can meet."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from corpusmill.compute import Pool

GIB = float(2**30)
MIB = float(2**20)

ITEMS_SCHEMA = pl.Schema({"item_id": pl.String(), "n_tokens": pl.Int64(), "n_bytes": pl.Int64()})
SHARDS_SCHEMA = pl.Schema(
    {
        "shard_id": pl.Int64(),
        "pool": pl.String(),
        "region": pl.String(),
        "devices": pl.Int64(),
        "rank": pl.Int64(),
        "samples": pl.Int64(),
        "tokens": pl.Int64(),
        "bytes": pl.Int64(),
        "predicted_hours": pl.Float64(),
        "first_item": pl.String(),
        "last_item": pl.String(),
        "file": pl.String(),
    }
)
POOLS_SCHEMA = pl.Schema(
    {
        "pool": pl.String(),
        "accelerator": pl.String(),
        "region": pl.String(),
        "devices": pl.Int64(),
        "status": pl.String(),
        "shards": pl.Int64(),
        "samples": pl.Int64(),
        "tokens": pl.Int64(),
        "bytes": pl.Int64(),
        "share": pl.Float64(),
        "batch_share": pl.Float64(),
        "predicted_hours": pl.Float64(),
        "cost_usd": pl.Float64(),
        "egress_gib": pl.Float64(),
        "egress_usd": pl.Float64(),
    }
)


class InfeasiblePlanError(ValueError):
    """No plan meets the job's deadline or budget; the message gives the best achievable."""


@dataclass
class ShardPlan:
    """A shard plan: what each pool reads, how long it takes and what it costs.

    ``assignment`` (item_id, pool, shard_id) is the exact membership of every shard; the shard
    rows' ``first_item``/``last_item`` are the smallest and largest item ids in the shard (after a
    re-plan a shard may hold several runs of the item order).
    """

    plan_id: str
    shards: pl.DataFrame
    pools: pl.DataFrame
    summary: dict[str, Any]
    assignment: pl.DataFrame = field(repr=False)


@dataclass(frozen=True)
class PoolCost:
    """What a pool costs and delivers for one job (the planner's view of a pool)."""

    pool: Pool
    rate: float  # tokens per wall-clock hour, whole pool
    per_token: float  # USD per token of compute (held device-hours)
    egress_per_token: float  # USD per processed token for moving the data (0 when local)
    remote: bool

    @property
    def name(self) -> str:
        return self.pool.name

    @property
    def total_per_token(self) -> float:
        return self.per_token + self.egress_per_token
