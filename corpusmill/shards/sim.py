"""A seeded simulation of synchronous data-parallel training on a plan's pools.

Each step every pool processes its share of the global batch, split evenly over its devices; a
device's speed is its pool's throughput times a lognormal jitter factor (mean 1, coefficient of
variation ``cv``), drawn per device per step; the step ends when the slowest device finishes
(stragglers). Steps are simulated in numpy arrays, ``chunk`` steps at a time. Losing a pool
mid-run is not simulated yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SimResult:
    """Simulated makespan (h), idle fraction per pool and cost (USD)."""

    makespan_hours: float
    idle_fraction: dict[str, float]
    cost_usd: float


def simulate(
    pools: dict[str, tuple[int, float, float, float]],
    *,
    tokens_per_step: float,
    steps: int,
    cv: float = 0.05,
    seed: int = 0,
    chunk: int = 1024,
) -> SimResult:
    """Simulate ``steps`` steps.

    Parameters
    ----------
    pools
        name -> (devices, tokens/s per device incl. availability, share of each step's tokens,
        USD per pool-hour). Pools with share 0 are idle and not charged.
    """
    rng = np.random.default_rng(seed)
    names = [n for n, v in sorted(pools.items()) if v[2] > 0]
    dev = np.array([pools[n][0] for n in names])
    tps = np.repeat([pools[n][1] for n in names], dev)
    load = np.repeat([pools[n][2] * tokens_per_step / pools[n][0] for n in names], dev)
    owner = np.repeat(np.arange(len(names)), dev)
    sigma = np.sqrt(np.log1p(cv**2))
    total, busy = 0.0, np.zeros(len(names))
    for start in range(0, steps, chunk):
        m = min(chunk, steps - start)
        jit = rng.lognormal(-sigma**2 / 2, sigma, size=(m, tps.size)) if cv > 0 else np.ones((m, tps.size))
        t = load / (tps * jit)  # (m, devices) seconds
        total += float(t.max(axis=1).sum())
        busy += np.bincount(owner, weights=t.sum(axis=0))
    idle = {n: 1 - busy[i] / (dev[i] * total) for i, n in enumerate(names)}
    cost = total / 3600 * sum(pools[n][3] for n in names)
    return SimResult(total / 3600, idle, cost)
