"""Shard plans for heterogeneous accelerator pools, and the shard files.

The planner turns a corpus's item list (one row per training sample: ``item_id``, ``n_tokens``,
``n_bytes``), a :class:`~corpusmill.compute.Catalog` and a :class:`~corpusmill.compute.TrainingJob`
into a deterministic :class:`ShardPlan`; :func:`write_shards` writes each shard as Parquet, JSONL
and/or a WebDataset tar, with ``plan.json`` telling every rank what it reads.
The rules are written out in ``docs/partitioning.md``; in short:

1. **Balance.** Each pool gets tokens in proportion to its effective rate
   (devices x tokens/s per device x availability), so every pool finishes at the same time.
2. **Egress.** A pool outside the data region pays ``egress_price_per_gib`` for every GiB it is
   sent (once; the copy serves every epoch). It keeps its balanced share only while the transfer
   costs no more per token than the compute time it saves, i.e. the price per token of the other
   pools that would otherwise process that token; otherwise it is dropped, and re-admitted with
   the smallest share that meets the deadline when the deadline needs it.
3. **Limits.** A deadline or budget that no plan can meet raises :class:`InfeasiblePlanError`
   with the numbers; over budget, the most expensive pools per token are dropped first.
4. **Shards.** Each pool's items are cut into ``k x devices`` shards of equal tokens, with ``k``
   the smallest number that keeps every shard under the target size (64 MiB by default, never
   more than 5% of a device's memory); device ``rank`` reads shards ``rank, rank + devices, ...``.
5. **Re-plans.** Given the previous plan, items stay on the pool they were on while that pool's
   new share has room; only the rest moves (reported as ``moved_gib``).

Items are cut into contiguous runs of the sorted ``item_id`` order, so a plan depends only on its
inputs and ``plan_id`` is a content hash of them.

Modules: :mod:`~corpusmill.shards.model` (the plan and its schemas), :mod:`~corpusmill.shards.plan`
(pool shares and the plan), :mod:`~corpusmill.shards.cut` (items to pools, pools to shards) and
:mod:`~corpusmill.shards.write` (the shard files, in the formats of
:mod:`~corpusmill.shards.formats`); :func:`stratify_shards` re-cuts a plan so that no shard mixes
train/validation/test and each keeps its split's mix of sites, equipment classes and labels.
Import from :mod:`corpusmill.shards`.
"""

from __future__ import annotations

from corpusmill.shards.cut import DEFAULT_STRATIFY_BY, DEFAULT_TOLERANCE, stratify_shards
from corpusmill.shards.formats import DEFAULT_FORMATS, FORMATS
from corpusmill.shards.model import (
    GIB,
    ITEMS_SCHEMA,
    MIB,
    POOLS_SCHEMA,
    SHARDS_SCHEMA,
    InfeasiblePlanError,
    ShardPlan,
)
from corpusmill.shards.plan import (
    DEFAULT_TARGET_SHARD_MIB,
    PLANNER_VERSION,
    SHARD_MEMORY_FRACTION,
    plan_shards,
)
from corpusmill.shards.write import read_plan, write_shards

__all__ = [
    "DEFAULT_FORMATS",
    "DEFAULT_STRATIFY_BY",
    "DEFAULT_TOLERANCE",
    "FORMATS",
    "DEFAULT_TARGET_SHARD_MIB",
    "GIB",
    "ITEMS_SCHEMA",
    "MIB",
    "PLANNER_VERSION",
    "POOLS_SCHEMA",
    "SHARDS_SCHEMA",
    "SHARD_MEMORY_FRACTION",
    "InfeasiblePlanError",
    "ShardPlan",
    "plan_shards",
    "read_plan",
    "stratify_shards",
    "write_shards",
]
