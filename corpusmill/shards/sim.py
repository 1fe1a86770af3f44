"""A seeded simulation of synchronous data-parallel training on a plan's pools.

Each step every pool processes its share of the global batch, split evenly over its devices; a
device's speed is its pool's throughput times a lognormal jitter factor (mean 1, coefficient of
variation ``cv``), drawn per device per step; the step ends when the slowest device finishes
(stragglers). Steps are simulated in numpy arrays, ``chunk`` steps at a time.

A pool can be **lost mid-run** (:class:`PoolLoss`: its name and the fraction of the steps done
when it goes). From that step on its share of every step is done by the other pools, in
proportion to their shares (what the trainer does when a data-parallel group drops out) or by
the shares a re-plan gives them (``after``); the lost pool is held and charged until it goes.

Why a synchronous run misses ``work / total throughput``: a step waits for the maximum of the
devices' times, and the expected maximum of ``n`` jittered times grows like ``1 + cv *
sqrt(2 ln n)``. :func:`straggler_factor` estimates that factor per pool so a plan can give a pool
with fewer devices (a smaller expected maximum) a little more of each step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from corpusmill.compute import Catalog, TrainingJob
    from corpusmill.shards.model import ShardPlan


@dataclass(frozen=True)
class PoolLoss:
    """Pool ``pool`` is lost after ``at`` (0..1) of the steps, or at the first step boundary
    after ``at_hours`` of the run (give one); ``after`` optionally gives the surviving pools'
    shares from then on (a re-plan), else they take the lost share pro rata."""

    pool: str
    at: float | None = None
    after: Mapping[str, float] | None = None
    at_hours: float | None = None

    def __post_init__(self) -> None:
        if (self.at is None) == (self.at_hours is None):
            msg = f"PoolLoss({self.pool!r}) needs one of at (fraction of steps) or at_hours"
            raise ValueError(msg)
        if self.at is not None and not 0 <= self.at < 1:
            msg = f"PoolLoss.at must be in [0, 1): the fraction of steps done, got {self.at}"
            raise ValueError(msg)
        if self.at_hours is not None and not self.at_hours >= 0:
            msg = f"PoolLoss.at_hours must be >= 0, got {self.at_hours}"
            raise ValueError(msg)


@dataclass(frozen=True)
class SimResult:
    """Simulated makespan (h), idle fraction per pool (of the time it was held), cost (USD),
    hours each pool was held, and when the lost pool went (h; None without a loss)."""

    makespan_hours: float
    idle_fraction: dict[str, float]
    cost_usd: float
    held_hours: dict[str, float] | None = None
    lost_at_hours: float | None = None


def simulate(
    pools: dict[str, tuple[int, float, float, float]],
    *,
    tokens_per_step: float,
    steps: int,
    cv: float = 0.05,
    seed: int = 0,
    chunk: int = 1024,
    loss: PoolLoss | None = None,
) -> SimResult:
    """Simulate ``steps`` steps.

    Parameters
    ----------
    pools
        name -> (devices, tokens/s per device incl. availability, share of each step's tokens,
        USD per pool-hour). Pools with share 0 are idle and not charged.
    loss
        A pool lost mid-run (see :class:`PoolLoss`).

    Raises
    ------
    ValueError
        ``loss`` names a pool without a share, or leaves no pool with a share.
    """
    rng = np.random.default_rng(seed)
    names = [n for n, v in sorted(pools.items()) if v[2] > 0]
    shares = {n: pools[n][2] for n in names}
    first = steps
    later = shares
    if loss is not None:
        if loss.pool not in shares:
            msg = f"lost pool {loss.pool!r} has no share in the simulated plan ({names})"
            raise ValueError(msg)
        rest = {n: s for n, s in shares.items() if n != loss.pool}
        if loss.after is not None:
            rest = {n: float(loss.after.get(n, 0.0)) for n in rest}
        if not sum(rest.values()) > 0:
            msg = f"losing {loss.pool!r} leaves no pool to take its work"
            raise ValueError(msg)
        total_share = sum(shares.values())
        later = {n: s * total_share / sum(rest.values()) for n, s in rest.items()}
        first = round(loss.at * steps) if loss.at is not None else steps
    dev = np.array([pools[n][0] for n in names])
    tps = np.repeat([pools[n][1] for n in names], dev)
    owner = np.repeat(np.arange(len(names)), dev)
    sigma = np.sqrt(np.log1p(cv**2))
    busy = np.zeros(len(names))
    elapsed = np.zeros(2)  # before, after the loss

    def run(n_steps: int, share: dict[str, float], phase: int, until: float | None = None) -> int:
        """Simulate up to ``n_steps`` steps (stopping at the first step boundary at or after
        ``until`` seconds into the run); the steps done."""
        load = np.repeat([share.get(n, 0.0) * tokens_per_step / pools[n][0] for n in names], dev)
        done = 0
        while done < n_steps:
            m = min(chunk, n_steps - done)
            size = (m, tps.size)
            jit = rng.lognormal(-(sigma**2) / 2, sigma, size=size) if cv > 0 else np.ones(size)
            t = load / (tps * jit)  # (m, devices) seconds
            step = t.max(axis=1)
            if until is not None:
                ends = elapsed[phase] + np.cumsum(step)
                over = int(np.searchsorted(ends, until * (1 - 1e-12)))
                if over < m:  # the loss falls in this chunk: keep the steps up to it
                    t, step, m = t[: over + 1], step[: over + 1], over + 1
                    n_steps = done + m
            elapsed[phase] += float(step.sum())
            busy[:] += np.bincount(owner, weights=t.sum(axis=0), minlength=len(names))
            done += m
        return done

    stop = loss.at_hours * 3600 if loss is not None and loss.at_hours is not None else None
    if stop == 0:
        first = 0
    else:
        first = run(first, shares, 0, until=stop)
    run(steps - first, later, 1)
    total = float(elapsed.sum())
    held = {n: total for n in names}
    if loss is not None:
        held[loss.pool] = float(elapsed[0])
    idle = {
        n: (1 - busy[i] / (dev[i] * held[n])) if held[n] > 0 else 1.0 for i, n in enumerate(names)
    }
    cost = sum(held[n] / 3600 * pools[n][3] for n in names)
    return SimResult(
        total / 3600,
        idle,
        cost,
        held_hours={n: h / 3600 for n, h in held.items()},
        lost_at_hours=float(elapsed[0]) / 3600 if loss is not None else None,
    )


def straggler_factor(devices: int, cv: float, *, draws: int = 4096, seed: int = 0) -> float:
    """E[max over ``devices`` of 1/jitter] for lognormal jitter of mean 1 and variation ``cv``:
    how much longer a step of ``devices`` equally loaded devices takes than its mean (seeded
    Monte Carlo estimate)."""
    if cv <= 0:
        return 1.0
    sigma = np.sqrt(np.log1p(cv**2))
    rng = np.random.default_rng(seed)
    jit = rng.lognormal(-(sigma**2) / 2, sigma, size=(draws, devices))
    return float((1 / jit).max(axis=1).mean())


def straggler_shares(
    pools: Mapping[str, tuple[int, float]], cv: float
) -> dict[str, float]:
    """Step shares that equalise each pool's expected slowest device: pool -> share, from
    name -> (devices, tokens/s per device); share ∝ devices x tokens/s / straggler_factor."""
    w = {n: d * r / straggler_factor(d, cv) for n, (d, r) in pools.items() if d > 0 and r > 0}
    total = sum(w.values())
    return {n: x / total for n, x in w.items()}


def plan_pools(
    plan: ShardPlan, catalog: Catalog, job: TrainingJob
) -> dict[str, tuple[int, float, float, float]]:
    """The :func:`simulate` input for a plan: its used pools with their token shares."""
    out = {}
    for r in plan.pools.filter(pl.col("samples") > 0).iter_rows(named=True):
        p = catalog.pool(r["pool"])
        out[p.name] = (p.count, p.throughput(job.model_class) * p.availability, r["share"],
                       p.hourly_price())  # fmt: skip
    return out


def plan_steps(plan: ShardPlan, job: TrainingJob) -> tuple[float, int]:
    """(tokens per step, steps) of the job on the plan: the mean sample's tokens x global batch,
    and steps per epoch x epochs."""
    s = plan.summary
    tokens_per_step = s["tokens"] / s["items"] * min(job.global_batch, s["items"])
    return tokens_per_step, max(1, round(s["steps_per_epoch"] * job.epochs))


def simulate_plan(
    plan: ShardPlan,
    catalog: Catalog,
    job: TrainingJob,
    *,
    cv: float = 0.05,
    seed: int = 0,
    loss: PoolLoss | None = None,
    split: str = "plan",
) -> SimResult:
    """Simulate the job on the plan's pools.

    ``split``: ``plan`` (the plan's shares), ``equal_split`` (every device the same samples) or
    ``round_robin`` (every pool the same share: shards dealt round-robin over the pools).
    """
    pools = plan_pools(plan, catalog, job)
    devices = sum(v[0] for v in pools.values())
    if split == "equal_split":
        pools = {n: (c, r, c / devices, pr) for n, (c, r, _, pr) in pools.items()}
    elif split == "round_robin":
        pools = {n: (c, r, 1 / len(pools), pr) for n, (c, r, _, pr) in pools.items()}
    elif split != "plan":
        msg = f"split must be plan, equal_split or round_robin, got {split!r}"
        raise ValueError(msg)
    tokens_per_step, steps = plan_steps(plan, job)
    return simulate(pools, tokens_per_step=tokens_per_step, steps=steps, cv=cv, seed=seed,
                    loss=loss)  # fmt: skip
