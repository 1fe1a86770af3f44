"""Pool shares from a linear programme (scipy ``linprog``, HiGHS).

Variables are ``x_p``, the fraction of the job's work pool ``p`` does, plus the makespan ``T``
for the objectives that minimise it. Coefficients are per job, in USD and hours (never per raw
token: tokens ~1e10 against costs ~1e-8 USD/token mislead the solver).

* ``sum x_p = 1``; ``x_p >= 0``; pools outside the job's ``pools`` list, or with less device
  memory than ``min_memory_gib``, are fixed at 0.
* hours on ``p``: ``h_p x_p`` with ``h_p = work / rate_p + bytes * 8 / bandwidth / 3600`` (the
  copy's time only for remote pools with a bandwidth); ``h_p x_p <= T``, ``<= deadline``,
  ``<= available_hours``.
* cost: ``c_p x_p`` with ``c_p = work / rate_p * hourly price + bytes / GiB * egress price``
  (remote only); ``sum c_p x_p <= budget``.

Objectives: ``fastest`` min T; ``cheapest_by_deadline`` min cost with T <= deadline;
``fastest_within_budget`` min T with cost <= budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from corpusmill.compute import Catalog, ComputeConfigError, Pool, TrainingJob
from corpusmill.shards.model import GIB


class PlanInfeasible(ComputeConfigError):
    """No shares meet the job's limits; the message names the binding limit and the shortfall."""


@dataclass(frozen=True)
class LPResult:
    """Shares per pool (summing to 1), the LP's makespan (h) and cost (USD), excluded pools."""

    shares: dict[str, float]
    makespan_hours: float
    cost_usd: float
    excluded: dict[str, str]


def coefficients(
    pool: Pool, catalog: Catalog, job: TrainingJob, work: float, nbytes: float
) -> tuple[float, float]:
    """(hours, USD) for ``pool`` doing the whole job: ``work`` tokens, ``nbytes`` to copy."""
    rate = pool.effective_rate(job.model_class) * 3600.0
    remote = pool.region != catalog.data_region
    hours = work / rate
    if remote and pool.bandwidth_gbps:
        hours += nbytes * 8 / (pool.bandwidth_gbps * 1e9) / 3600.0
    usd = work / rate * pool.hourly_price()
    if remote:
        usd += nbytes / GIB * pool.egress_price_per_gib
    return hours, usd


def excluded_pools(catalog: Catalog, job: TrainingJob) -> dict[str, str]:
    """Pools the job may not use, with the reason."""
    job.check_pools(catalog)
    out: dict[str, str] = {}
    for p in catalog.pools:
        if job.pools is not None and p.name not in job.pools:
            out[p.name] = "excluded: not in the job's pools"
        elif job.min_memory_gib is not None and p.memory_gib < job.min_memory_gib:
            out[p.name] = (
                f"excluded: {p.memory_gib:g} GiB per device < {job.min_memory_gib:g} GiB the "
                "model needs"
            )
    return out


def solve_shares(
    catalog: Catalog, job: TrainingJob, *, work: float, nbytes: float
) -> LPResult:
    """Shares for ``job`` (its ``objective``; ``fastest`` when None).

    Parameters
    ----------
    work
        Tokens processed over the whole job (tokens per epoch x epochs).
    nbytes
        Bytes of the corpus (copied once to each remote pool, in proportion to its share).

    Raises
    ------
    PlanInfeasible
        The deadline, budget, availability windows or memory leave no plan.
    """
    excluded = excluded_pools(catalog, job)
    pools = sorted((p for p in catalog.pools if p.name not in excluded), key=lambda p: p.name)
    if not pools:
        msg = (
            f"job {job.name or job.corpus!r}: no pool is allowed "
            f"({'; '.join(f'{k}: {v}' for k, v in sorted(excluded.items()))}); "
            "widen pools or lower min_memory_gib"
        )
        raise PlanInfeasible(msg)
    hc = [coefficients(p, catalog, job, work, nbytes) for p in pools]
    h = np.array([a for a, _ in hc])
    c = np.array([b for _, b in hc])
    cap = np.array([p.available_hours if p.available_hours is not None else np.inf for p in pools])
    objective = job.objective or "fastest"

    fast = _min_makespan(h, c, cap, None)
    if fast is None:
        reach = float(np.sum(np.minimum(1.0, cap / h)))
        msg = (
            f"availability windows: the allowed pools can do {reach:.1%} of the work within their "
            "available_hours; add pools or lengthen their windows"
        )
        raise PlanInfeasible(msg)
    if job.deadline_hours is not None and fast[1] > job.deadline_hours * (1 + 1e-9):
        msg = (
            f"deadline {job.deadline_hours:g} h needs {fast[1]:.2f} h on the allowed pools "
            f"({', '.join(p.name for p in pools)}): {fast[1] - job.deadline_hours:.2f} h short; "
            "raise deadline_hours or add pools"
        )
        raise PlanInfeasible(msg)
    limit = np.minimum(cap, job.deadline_hours if job.deadline_hours is not None else np.inf)
    cheap = _min_cost(h, c, limit)
    assert cheap is not None  # fast is feasible within the same limits
    if job.budget_usd is not None and float(c @ cheap) > job.budget_usd * (1 + 1e-9):
        msg = (
            f"budget {job.budget_usd:,.2f} USD, cheapest feasible {float(c @ cheap):,.2f} USD "
            f"({float(c @ cheap) - job.budget_usd:,.2f} USD short); raise budget_usd, relax "
            "the deadline or add cheaper pools"
        )
        raise PlanInfeasible(msg)
    if objective == "cheapest_by_deadline":
        x = cheap
    else:
        res = _min_makespan(h, c, limit, job.budget_usd)
        assert res is not None
        x = res[0]
    x = np.where(x < 1e-12, 0.0, x)
    x = x / x.sum()
    return LPResult(
        shares={p.name: float(v) for p, v in zip(pools, x, strict=True)},
        makespan_hours=float(np.max(h * x)),
        cost_usd=float(c @ x),
        excluded=excluded,
    )


def _min_cost(h: np.ndarray, c: np.ndarray, limit: np.ndarray) -> np.ndarray | None:
    n = len(h)
    ub = np.where(np.isfinite(limit), limit / h, 1.0)
    res = linprog(
        c, A_eq=np.ones((1, n)), b_eq=[1.0], bounds=list(zip([0.0] * n, np.minimum(ub, 1.0))),
        method="highs",
    )  # fmt: skip
    return res.x if res.status == 0 else None


def _min_makespan(
    h: np.ndarray, c: np.ndarray, limit: np.ndarray, budget: float | None
) -> tuple[np.ndarray, float] | None:
    n = len(h)
    obj = np.zeros(n + 1)
    obj[-1] = 1.0
    a_ub = np.hstack([np.diag(h), -np.ones((n, 1))])  # h_p x_p - T <= 0
    b_ub = np.zeros(n)
    if budget is not None:
        a_ub = np.vstack([a_ub, np.append(c, 0.0)])
        b_ub = np.append(b_ub, budget)
    ub = np.where(np.isfinite(limit), limit / h, 1.0)
    res = linprog(
        obj, A_ub=a_ub, b_ub=b_ub, A_eq=np.append(np.ones(n), 0.0)[None, :], b_eq=[1.0],
        bounds=[*zip([0.0] * n, np.minimum(ub, 1.0)), (0.0, None)], method="highs",
    )  # fmt: skip
    return (res.x[:n], float(res.x[-1])) if res.status == 0 else None


@dataclass(frozen=True)
class JobAllocation:
    """One job's part of a shared allocation: shares, device-hours per pool, cost (USD), and the
    other jobs it shared the LP with (none: planned alone)."""

    shares: dict[str, float]
    device_hours: dict[str, float]
    cost_usd: float
    shared_with: tuple[str, ...] = ()


def allocate_jobs(
    jobs: list[TrainingJob], catalog: Catalog, work: dict[str, tuple[float, float]]
) -> dict[str, JobAllocation]:
    """One LP for several jobs sharing the pools, minimising their total cost.

    ``work`` maps a job's name to (tokens over the whole job, corpus bytes). Per job: shares sum
    to 1, its hours on each pool stay within its deadline and its cost within its budget. Per
    pool the jobs share the devices: for every deadline ``d`` the pool-hours of the jobs due by
    ``d`` fit in ``min(d, available_hours)`` (jobs without a deadline count against
    ``available_hours`` only).

    Raises
    ------
    PlanInfeasible
        The jobs cannot all meet their limits on the shared pools.
    """
    pools = sorted(catalog.pools, key=lambda p: p.name)
    n_p = len(pools)
    n = len(jobs) * n_p
    cost = np.zeros(n)
    a_ub: list[np.ndarray] = []
    b_ub: list[float] = []
    a_eq = np.zeros((len(jobs), n))
    bounds: list[tuple[float, float]] = []
    full = np.zeros(n)  # pool-hours if the job ran wholly on the pool
    for j, job in enumerate(jobs):
        tokens, nbytes = work[job.name or job.corpus]
        excluded = excluded_pools(catalog, job)
        a_eq[j, j * n_p : (j + 1) * n_p] = 1.0
        row = np.zeros(n)
        for k, p in enumerate(pools):
            i = j * n_p + k
            h, c = coefficients(p, catalog, job, tokens, nbytes)
            cost[i], full[i] = c, tokens / (p.effective_rate(job.model_class) * 3600.0)
            ub = 0.0 if p.name in excluded else 1.0
            if job.deadline_hours is not None:
                ub = min(ub, job.deadline_hours / h)
            bounds.append((0.0, ub))
            row[i] = c
        if job.budget_usd is not None:
            a_ub.append(row)
            b_ub.append(job.budget_usd)
    for k, p in enumerate(pools):
        horizons = sorted({j.deadline_hours for j in jobs if j.deadline_hours is not None})
        if p.available_hours is not None:
            horizons = [d for d in horizons if d < p.available_hours] + [p.available_hours]
        for d in horizons:
            row = np.zeros(n)
            for j, job in enumerate(jobs):
                due = job.deadline_hours if job.deadline_hours is not None else np.inf
                if due <= d or (p.available_hours is not None and d == p.available_hours):
                    row[j * n_p + k] = full[j * n_p + k]
            a_ub.append(row)
            b_ub.append(min(d, p.available_hours or np.inf))
    res = linprog(
        cost, A_ub=np.array(a_ub) if a_ub else None, b_ub=b_ub or None, A_eq=a_eq,
        b_eq=np.ones(len(jobs)), bounds=bounds, method="highs",
    )  # fmt: skip
    if res.status != 0:
        msg = (
            f"jobs {[j.name for j in jobs]} cannot all meet their deadlines and budgets on the "
            f"shared pools ({res.message}); plan them alone to see which limit binds"
        )
        raise PlanInfeasible(msg)
    out: dict[str, JobAllocation] = {}
    for j, job in enumerate(jobs):
        x = res.x[j * n_p : (j + 1) * n_p]
        sl = slice(j * n_p, (j + 1) * n_p)
        out[job.name or job.corpus] = JobAllocation(
            shares={p.name: float(v) for p, v in zip(pools, x, strict=True) if v > 1e-12},
            device_hours={
                p.name: float(v * f * p.count)
                for p, v, f in zip(pools, x, full[sl], strict=True)
                if v > 1e-12
            },
            cost_usd=float(cost[sl] @ x),
            shared_with=tuple(o.name or o.corpus for o in jobs if o is not job),
        )
    return out


def allocate(
    jobs: list[TrainingJob], catalog: Catalog, work: dict[str, tuple[float, float]]
) -> dict[str, JobAllocation]:
    """Each job's pools and hours: jobs that compete for pools (their allowed pools overlap,
    directly or through other jobs) share one :func:`allocate_jobs` LP; a job that competes with
    none is planned alone by :func:`solve_shares`, with its own objective, and is left out of the
    result when it has none (the rule-based planner plans it).

    Raises
    ------
    PlanInfeasible
        A job, or a group of competing jobs, cannot meet its limits.
    """
    allowed = {
        (j.name or j.corpus): {p.name for p in catalog.pools} - set(excluded_pools(catalog, j))
        for j in jobs
    }
    groups: list[list[TrainingJob]] = []
    for j in jobs:  # merge j into every group it shares a pool with
        mine = allowed[j.name or j.corpus]
        touching = [g for g in groups if any(mine & allowed[o.name or o.corpus] for o in g)]
        merged = [x for g in touching for x in g] + [j]
        groups = [g for g in groups if g not in touching] + [merged]
    out: dict[str, JobAllocation] = {}
    for g in groups:
        if len(g) > 1:
            out.update(allocate_jobs(g, catalog, work))
            continue
        job = g[0]
        name = job.name or job.corpus
        if job.objective is None:
            continue
        tokens, nbytes = work[name]
        lp = solve_shares(catalog, job, work=tokens, nbytes=nbytes)
        hours = {
            p.name: tokens / (p.effective_rate(job.model_class) * 3600.0) * p.count
            for p in catalog.pools
        }
        out[name] = JobAllocation(
            shares={n: x for n, x in lp.shares.items() if x > 1e-12},
            device_hours={n: x * hours[n] for n, x in lp.shares.items() if x > 1e-12},
            cost_usd=lp.cost_usd,
        )
    names = [j.name or j.corpus for j in jobs]
    return {n: out[n] for n in names if n in out}
