"""The plan: each pool's share of the tokens (rules 1-3: balance, egress, deadline and budget),
then the items cut into shards and the plan's frames, summary and content-hash id.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from corpusmill.compute import Catalog, Pool, TrainingJob
from corpusmill.shards.cut import _assign_items, _cut_pool, _shard_rows
from corpusmill.shards.model import (
    GIB,
    ITEMS_SCHEMA,
    MIB,
    POOLS_SCHEMA,
    InfeasiblePlanError,
    PoolCost,
    ShardPlan,
)

#: Default upper bound on a shard (MosaicML Streaming's default shard size limit is ~64 MiB).
DEFAULT_TARGET_SHARD_MIB = 64.0
#: A shard is loaded whole by one device's loader: keep it to this fraction of device memory.
SHARD_MEMORY_FRACTION = 0.05
#: Bumped when a rule changes, so that plan ids of different planners never collide.
PLANNER_VERSION = 1


def plan_shards(
    items: pl.DataFrame,
    catalog: Catalog,
    job: TrainingJob,
    *,
    previous: ShardPlan | None = None,
    shares: Mapping[str, float] | None = None,
) -> ShardPlan:
    """Plan shards of ``items`` for the pools of ``catalog`` running ``job``.

    Parameters
    ----------
    items
        One row per training sample: ``item_id`` (String, unique), ``n_tokens`` (Int64),
        ``n_bytes`` (Int64). Sorted by ``item_id`` here; the order of the input does not matter.
    catalog, job
        The pools and the job (see :mod:`corpusmill.compute`).
    previous
        The plan the job ran on before a change of pools: items stay where they were when the
        pool still exists and its new share has room.
    shares
        Pool -> fraction of the job's work, decided elsewhere (e.g. the job's part of a joint
        allocation over several jobs sharing the pools, :func:`corpusmill.shards.lp.allocate_jobs`);
        overrides the rules and the job's own objective. Fractions are normalised to sum to 1.

    Raises
    ------
    InfeasiblePlanError
        The deadline or budget cannot be met by any plan; the message gives the best achievable.
    ValueError
        ``items`` is empty, has no tokens, duplicate ids or negative counts.
    """
    items = _check_items(items)
    explicit = shares is not None
    given: dict[str, float] = {}
    n_items = items.height
    total_tokens = int(items["n_tokens"].sum())
    total_bytes = int(items["n_bytes"].sum())
    bytes_per_token = total_bytes / total_tokens
    work = total_tokens * job.epochs  # tokens processed over the whole job
    warnings: list[str] = []

    costs = {
        p.name: _pool_cost(p, catalog, job, bytes_per_token)
        for p in sorted(catalog.pools, key=lambda p: p.name)
    }
    for p in costs.values():
        if job.model_class not in p.pool.tokens_per_s_by_model and (
            job.model_class != catalog.reference_model_class
        ):
            warnings.append(
                f"pool {p.name!r}: no throughput measured for {job.model_class!r}; using its "
                f"{catalog.reference_model_class!r} figure, so predicted hours are optimistic"
            )
    if job.seq_len != catalog.reference_seq_len:
        warnings.append(
            f"job seq_len {job.seq_len} differs from the catalog's reference_seq_len "
            f"{catalog.reference_seq_len}; throughput is not rescaled"
        )

    if shares is not None:
        from corpusmill.shards.lp import excluded_pools

        unknown = sorted(set(shares) - set(costs))
        if unknown or not sum(shares.values()) > 0:
            msg = f"shares name pools {unknown} not in the catalog, or sum to 0: {dict(shares)}"
            raise ValueError(msg)
        total = sum(shares.values())
        given = {n: x / total for n, x in shares.items() if x > 0}
        status = {n: f"joint lp: share {x:.4f}" for n, x in given.items()}
        status.update(excluded_pools(catalog, job))
        shares = {n: x * work for n, x in given.items()}
    elif job.objective is not None:
        from corpusmill.shards.lp import solve_shares

        lp = solve_shares(catalog, job, work=work, nbytes=total_bytes)
        shares = {n: x * work for n, x in lp.shares.items()}
        status = {n: f"lp {job.objective}: share {x:.4f}" for n, x in lp.shares.items()}
        status.update(lp.excluded)
        warnings.append(
            f"lp optimum: {lp.makespan_hours:.4g} h, {lp.cost_usd:.6g} USD (before whole shards)"
        )
    else:
        shares, status = _choose_shares(costs, work, job)

    # tokens of the corpus (one epoch) each pool should hold
    targets = {n: s / job.epochs for n, s in shares.items() if s > 0}
    item_pool, moved_bytes, new_bytes = _assign_items(items, targets, previous)
    items = items.with_columns(pool=item_pool)

    target_bytes = (job.target_shard_mib or DEFAULT_TARGET_SHARD_MIB) * MIB
    shard_frames = []
    next_id = 0
    for name in sorted(targets):
        pool_items = items.filter(pl.col("pool") == name)
        if pool_items.is_empty():
            continue
        cost = costs[name]
        cap = min(target_bytes, SHARD_MEMORY_FRACTION * cost.pool.memory_gib * GIB)
        cut, w = _cut_pool(pool_items, cost.pool.count, cap)
        warnings.extend(f"pool {name!r}: {m}" for m in w)
        shard_frames.append(cut.with_columns(shard_id=pl.col("local") + next_id))
        next_id += int(cut["local"].max()) + 1
    assigned = pl.concat(shard_frames).sort("item_id")

    shards = _shard_rows(assigned, costs, job, catalog)
    pools = _pool_rows(shards, costs, status, job, n_items)
    used = pools.filter(pl.col("samples") > 0)
    hours = used["predicted_hours"]
    finish_ratio = float(hours.max()) / float(hours.min()) if float(hours.min()) > 0 else math.inf
    if any(s.startswith("shrunk") for s in status.values()):
        warnings.append("a shrunk pool finishes early on purpose; finish_ratio includes it")

    plan_id = _plan_id(items, catalog, job, previous, given if explicit else None)
    compute_cost = float(pools["cost_usd"].sum())
    egress_usd = float(pools["egress_usd"].sum())
    summary: dict[str, Any] = {
        "plan_id": plan_id,
        "planner_version": PLANNER_VERSION,
        "corpus": job.corpus,
        "version": job.version,
        "model_class": job.model_class,
        "epochs": job.epochs,
        "items": n_items,
        "tokens": total_tokens,
        "bytes": total_bytes,
        "bytes_per_token": bytes_per_token,
        "makespan_hours": float(hours.max()),
        "finish_ratio": finish_ratio,
        "total_cost_usd": compute_cost + egress_usd,
        "compute_cost_usd": compute_cost,
        "egress_usd": egress_usd,
        "egress_gib": float(pools["egress_gib"].sum()),
        "moved_gib": moved_bytes / GIB,
        "new_gib": new_bytes / GIB,
        "previous_plan_id": previous.plan_id if previous is not None else None,
        "n_shards": shards.height,
        "target_shard_mib": target_bytes / MIB,
        "max_shard_mib": float(shards["bytes"].max()) / MIB,
        "mean_shard_mib": float(shards["bytes"].mean()) / MIB,
        "steps_per_epoch": math.ceil(n_items / job.global_batch),
        "deadline_hours": job.deadline_hours,
        "budget_usd": job.budget_usd,
        "pool_status": dict(sorted(status.items())),
        "warnings": warnings,
    }
    return ShardPlan(
        plan_id=plan_id,
        shards=shards,
        pools=pools,
        summary=summary,
        assignment=assigned.select("item_id", "pool", "shard_id"),
    )


def _check_items(items: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in ITEMS_SCHEMA if c not in items.columns]
    if missing:
        msg = f"items needs columns item_id, n_tokens, n_bytes; missing {missing}"
        raise ValueError(msg)
    items = items.select([pl.col(c).cast(t) for c, t in ITEMS_SCHEMA.items()])
    if not items["item_id"].is_sorted():  # one pass, against a sort of millions of strings
        items = items.sort("item_id")
    if items.is_empty():
        msg = "items is empty: there is nothing to plan"
        raise ValueError(msg)
    ids = items["item_id"]  # sorted: a duplicate sits next to its twin
    if ids.null_count() or (ids.slice(1) == ids.slice(0, ids.len() - 1)).any():
        msg = "item_id must be non-null and unique (one row per training sample)"
        raise ValueError(msg)
    if items.select((pl.col("n_tokens") < 0) | (pl.col("n_bytes") < 0)).to_series().any():
        msg = "n_tokens and n_bytes must be >= 0"
        raise ValueError(msg)
    if int(items["n_tokens"].sum()) <= 0:
        msg = "items hold no tokens (n_tokens sums to 0)"
        raise ValueError(msg)
    return items


def _pool_cost(p: Pool, catalog: Catalog, job: TrainingJob, bytes_per_token: float) -> PoolCost:
    rate = p.effective_rate(job.model_class) * 3600.0
    remote = p.region != catalog.data_region
    # data is moved once and cached for every epoch: spread its price over the processed tokens
    egress = bytes_per_token / GIB * p.egress_price_per_gib / job.epochs if remote else 0.0
    return PoolCost(p, rate, p.hourly_price() / rate, egress, remote)


def _balanced(active: list[PoolCost], work: float) -> dict[str, float]:
    total = sum(c.rate for c in active)
    return {c.name: work * c.rate / total for c in active}


def _egress_rule(costs: dict[str, PoolCost]) -> tuple[list[PoolCost], dict[str, str]]:
    """Drop remote pools whose transfer costs more per token than the compute time it saves."""
    active = list(costs.values())
    dropped: dict[str, str] = {}
    while len(active) > 1:
        worst: tuple[float, str, str] | None = None
        for c in active:
            if not c.remote:
                continue
            rest = [o for o in active if o.name != c.name]
            saved = sum(o.pool.hourly_price() for o in rest) / sum(o.rate for o in rest)
            if c.egress_per_token > saved:
                reason = (
                    f"dropped: egress {c.egress_per_token:.3g} USD/token > compute time it "
                    f"saves {saved:.3g} USD/token"
                )
                key = (c.egress_per_token - saved, c.name, reason)
                worst = key if worst is None or key > worst else worst
        if worst is None:
            break
        dropped[worst[1]] = worst[2]
        active = [c for c in active if c.name != worst[1]]
    return active, dropped


def _with_deadline(
    active: list[PoolCost], reserve: list[PoolCost], work: float, deadline: float | None
) -> tuple[dict[str, float], dict[str, str]] | None:
    """Balanced shares on ``active``; reserve pools join, shrunk, only if the deadline needs it."""
    shares = _balanced(active, work)
    status = {c.name: "balanced" for c in active}
    rate = sum(c.rate for c in active)
    if deadline is None or work / rate <= deadline:
        return shares, status
    need = work - rate * deadline
    shares = {c.name: c.rate * deadline for c in active}
    for c in sorted(reserve, key=lambda c: (c.egress_per_token, c.name)):
        if need <= 0:
            break
        take = min(c.rate * deadline, need)
        shares[c.name] = take
        status[c.name] = f"shrunk: re-admitted for the deadline despite egress ({take:.4g} tok)"
        need -= take
    if need > 1e-9 * work:
        return None
    return shares, status


def _cost(shares: dict[str, float], costs: dict[str, PoolCost]) -> float:
    return sum(s * costs[n].total_per_token for n, s in shares.items())


def _choose_shares(
    costs: dict[str, PoolCost], work: float, job: TrainingJob
) -> tuple[dict[str, float], dict[str, str]]:
    active, dropped = _egress_rule(costs)
    reserve = [costs[n] for n in dropped]
    deadline = job.deadline_hours
    chosen = _with_deadline(active, reserve, work, deadline)
    if chosen is None:
        best = work / sum(c.rate for c in costs.values())
        msg = (
            f"deadline {deadline:g} h cannot be met: even with every pool "
            f"({', '.join(costs)}) balanced the job takes {best:.2f} h "
            f"({work:.4g} tokens over {job.epochs:g} epoch(s)); add pools, or raise deadline_hours"
        )
        raise InfeasiblePlanError(msg)
    shares, status = chosen
    budget = job.budget_usd
    if budget is not None and _cost(shares, costs) > budget:
        cheapest = min(costs.values(), key=lambda c: (c.total_per_token, c.name))
        floor = work * cheapest.total_per_token
        if floor > budget:
            msg = (
                f"budget {budget:,.2f} USD cannot be met: the cheapest possible plan (pool "
                f"{cheapest.name!r} alone, {work / cheapest.rate:.1f} h) costs {floor:,.2f} USD "
                f"and the balanced plan {_cost(shares, costs):,.2f} USD; raise budget_usd or "
                "add cheaper pools"
            )
            raise InfeasiblePlanError(msg)
        # drop the most expensive pool per token until the plan fits the budget
        pool_set = [costs[n] for n in shares]
        while _cost(shares, costs) > budget:
            victim = max(pool_set, key=lambda c: (c.total_per_token, c.name))
            pool_set = [c for c in pool_set if c.name != victim.name]
            dropped[victim.name] = (
                f"dropped: over budget ({victim.total_per_token:.3g} USD/token, the most "
                "expensive pool left)"
            )
            chosen = _with_deadline(pool_set, [], work, deadline)
            if chosen is None:
                msg = (
                    f"budget {budget:,.2f} USD and deadline {deadline:g} h conflict: meeting "
                    f"the budget needs dropping {victim.name!r}, and the remaining pools take "
                    f"{work / sum(c.rate for c in pool_set):.2f} h; raise one of the two"
                )
                raise InfeasiblePlanError(msg)
            shares, status = chosen
    for name, reason in dropped.items():
        status.setdefault(name, reason)
    return shares, status

def _pool_rows(
    shards: pl.DataFrame,
    costs: dict[str, PoolCost],
    status: dict[str, str],
    job: TrainingJob,
    n_items: int,
) -> pl.DataFrame:
    total_tokens = int(shards["tokens"].sum())
    rows = []
    for name, c in costs.items():
        mine = shards.filter(pl.col("pool") == name)
        tokens = int(mine["tokens"].sum())
        samples = int(mine["samples"].sum())
        nbytes = int(mine["bytes"].sum())
        hours = tokens * job.epochs / c.rate
        egress_gib = nbytes / GIB if c.remote else 0.0
        rows.append(
            {
                "pool": name,
                "accelerator": c.pool.accelerator,
                "region": c.pool.region,
                "devices": c.pool.count,
                "status": status.get(name, "unused"),
                "shards": mine.height,
                "samples": samples,
                "tokens": tokens,
                "bytes": nbytes,
                "share": tokens / total_tokens,
                "batch_share": job.global_batch * samples / n_items,
                "predicted_hours": hours,
                "cost_usd": hours * c.pool.hourly_price(),
                "egress_gib": egress_gib,
                "egress_usd": egress_gib * c.pool.egress_price_per_gib,
            }
        )
    return pl.DataFrame(rows, schema=POOLS_SCHEMA)


def _plan_id(
    items: pl.DataFrame,
    catalog: Catalog,
    job: TrainingJob,
    previous: ShardPlan | None,
    shares: dict[str, float] | None = None,
) -> str:
    h = hashlib.sha256()
    h.update(items.select("item_id", "n_tokens", "n_bytes").write_csv().encode())
    cat = catalog.model_dump(mode="json")
    cat["pools"] = sorted(cat["pools"], key=lambda p: p["name"])
    head = {
        "planner": PLANNER_VERSION,
        "corpus": job.corpus,
        "version": job.version,
        "catalog": cat,
        "job": job.model_dump(mode="json"),
        "items": h.hexdigest(),
        "previous": previous.plan_id if previous is not None else None,
    }
    if shares is not None:  # absent otherwise, so the ids of plans without given shares stay
        head["shares"] = {k: round(v, 12) for k, v in sorted(shares.items())}
    return hashlib.sha256(json.dumps(head, sort_keys=True).encode()).hexdigest()[:16]
