"""A seeded simulation of synchronous data-parallel training on a plan's pools.

Each step every pool processes its share of the global batch, split over its devices; the step
ends when the slowest device finishes (stragglers). A device's speed is its pool's throughput
times two lognormal factors of mean 1 (the declared :class:`Jitter`): a **device** factor drawn
once per run (silicon, cooling, host and link differences: what makes the same device slow step
after step) and a **step** factor drawn per device per step (transient noise). Steps are simulated
in numpy arrays, ``chunk`` steps at a time.

**Rebalancing** (``rebalance_every=W``): every ``W`` steps each rank's share of the step is set in
proportion to its measured throughput so far (tokens done / seconds busy), the per-rank batch
share a trainer applies between steps (Dynamic Batch Size, Ye et al. 2020). It removes the device
factor; the step factor stays, since no split can know the next step's noise. Without it every
rank of a pool keeps the plan's equal share (what a static sharded loader does).

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
class Jitter:
    """The declared throughput jitter: coefficients of variation of two lognormal factors of
    mean 1, ``device_cv`` per device for the whole run and ``step_cv`` per device per step."""

    device_cv: float = 0.05
    step_cv: float = 0.01

    def __post_init__(self) -> None:
        for name in ("device_cv", "step_cv"):
            v = getattr(self, name)
            if not 0 <= v < 1:
                msg = f"Jitter.{name} must be in [0, 1), got {v}"
                raise ValueError(msg)


#: What ``corpusmill plan --simulate`` and the partition benchmark declare: devices of one model
#: differ by 5% in speed, and a device's step time varies by 1% around its own speed.
DEFAULT_JITTER = Jitter(device_cv=0.05, step_cv=0.01)
#: Steps between two rebalancings of the per-rank shares.
REBALANCE_EVERY = 50


def _lognormal(rng: np.random.Generator, cv: float, size) -> np.ndarray:
    """Lognormal factors of mean 1 and coefficient of variation ``cv`` (ones for cv 0)."""
    if cv <= 0:
        return np.ones(size)
    sigma = np.sqrt(np.log1p(cv**2))
    return rng.lognormal(-(sigma**2) / 2, sigma, size=size)


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
    device_cv: float = 0.0,
    rebalance_every: int = 0,
) -> SimResult:
    """Simulate ``steps`` steps.

    Parameters
    ----------
    pools
        name -> (devices, tokens/s per device incl. availability, share of each step's tokens,
        USD per pool-hour). Pools with share 0 are idle and not charged.
    cv, device_cv
        Coefficients of variation of the per-step and the per-device speed factors.
    loss
        A pool lost mid-run (see :class:`PoolLoss`).
    rebalance_every
        Re-derive every rank's share from its measured throughput every this many steps (0:
        keep the pools' shares, split equally over each pool's devices).

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
    if rebalance_every < 0:
        msg = f"rebalance_every must be >= 0 steps, got {rebalance_every}"
        raise ValueError(msg)
    dev = np.array([pools[n][0] for n in names])
    owner = np.repeat(np.arange(len(names)), dev)
    # the device factors come from their own stream: the step draws stay those of device_cv=0
    speed = _lognormal(np.random.default_rng([seed, 1]), device_cv, owner.size)
    tps = np.repeat([pools[n][1] for n in names], dev) * speed
    busy = np.zeros(len(names))
    done_tokens = np.zeros(owner.size)  # per device, for the measured throughput
    busy_s = np.zeros(owner.size)
    elapsed = np.zeros(2)  # before, after the loss

    def loads(share: dict[str, float]) -> np.ndarray:
        """Tokens per device per step: the pools' shares split equally over their devices or,
        once measured and rebalancing, in proportion to each live device's measured rate."""
        base = np.repeat([share.get(n, 0.0) * tokens_per_step / pools[n][0] for n in names], dev)
        if not rebalance_every or not busy_s.any():
            return base
        live = base > 0
        rate = np.where(live & (busy_s > 0), done_tokens / np.maximum(busy_s, 1e-300), 0.0)
        return np.where(live, rate, 0.0) * (base.sum() / rate[live].sum())

    def run(n_steps: int, share: dict[str, float], phase: int, until: float | None = None) -> int:
        """Simulate up to ``n_steps`` steps (stopping at the first step boundary at or after
        ``until`` seconds into the run); the steps done."""
        load = loads(share)
        done = 0
        while done < n_steps:
            m = min(chunk, n_steps - done)
            if rebalance_every:
                m = min(m, rebalance_every - done % rebalance_every)
            size = (m, tps.size)
            t = load / (tps * _lognormal(rng, cv, size))  # (m, devices) seconds
            step = t.max(axis=1)
            if until is not None:
                ends = elapsed[phase] + np.cumsum(step)
                over = int(np.searchsorted(ends, until * (1 - 1e-12)))
                if over < m:  # the loss falls in this chunk: keep the steps up to it
                    t, step, m = t[: over + 1], step[: over + 1], over + 1
                    n_steps = done + m
            elapsed[phase] += float(step.sum())
            per_device = t.sum(axis=0)
            busy[:] += np.bincount(owner, weights=per_device, minlength=len(names))
            done_tokens[:] += load * m
            busy_s[:] += per_device
            done += m
            if rebalance_every and done % rebalance_every == 0:
                load = loads(share)
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
    jit = _lognormal(np.random.default_rng(seed), cv, (draws, devices))
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
    jitter: Jitter = DEFAULT_JITTER,
    seed: int = 0,
    loss: PoolLoss | None = None,
    split: str = "plan",
    rebalance_every: int | None = None,
) -> SimResult:
    """Simulate the job on the plan's pools.

    ``split``: ``plan`` (the plan's shares), ``equal_split`` (every device the same samples) or
    ``round_robin`` (every pool the same share: shards dealt round-robin over the pools).
    ``rebalance_every`` defaults to :data:`REBALANCE_EVERY` for the plan (its ranks' shares
    follow their measured throughput) and to 0 for the baselines (fixed per-rank batches, as the
    loaders they stand for read them).
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
    if rebalance_every is None:
        rebalance_every = REBALANCE_EVERY if split == "plan" else 0
    tokens_per_step, steps = plan_steps(plan, job)
    return simulate(pools, tokens_per_step=tokens_per_step, steps=steps, cv=jitter.step_cv,
                    device_cv=jitter.device_cv, seed=seed, loss=loss,
                    rebalance_every=rebalance_every)  # fmt: skip
