"""The LP planner: objectives, limits and their error messages, and plan_shards on LP shares."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from corpusmill.compute import ComputeConfigError, TrainingJob, load_catalog, load_jobs
from corpusmill.shards import plan_shards
from corpusmill.shards.lp import PlanInfeasible, coefficients, solve_shares

FOUR = load_catalog(Path(__file__).parent / "fixtures" / "compute_4pools.yaml")
TOKENS, BYTES = 2e10, 8e10  # 10 M samples of ~2,000 tokens, 4 bytes per token
JOB = TrainingJob(
    corpus="text_corpus", model_class="decoder-1b", seq_len=2048, global_batch=512, epochs=2,
    deadline_hours=20, objective="cheapest_by_deadline",
)  # fmt: skip


def test_cheapest_by_deadline_beats_balanced_and_matches_greedy():
    work = TOKENS * JOB.epochs
    lp = solve_shares(FOUR, JOB, work=work, nbytes=BYTES)
    hc = {p.name: coefficients(p, FOUR, JOB, work, BYTES) for p in FOUR.pools}
    # balanced: shares in proportion to rate, i.e. to 1 / hours
    inv = {n: 1 / h for n, (h, _) in hc.items()}
    balanced = sum(inv[n] / sum(inv.values()) * c for n, (_, c) in hc.items())
    # the exact optimum of this LP (no bandwidth): fill the cheapest pools up to the deadline
    left, greedy = 1.0, 0.0
    for n, (h, c) in sorted(hc.items(), key=lambda kv: kv[1][1]):
        take = min(left, JOB.deadline_hours / h)
        greedy += take * c
        left -= take
    assert lp.cost_usd == pytest.approx(greedy, rel=1e-9)
    assert lp.cost_usd < balanced * 0.9
    assert lp.makespan_hours <= JOB.deadline_hours * (1 + 1e-9)
    assert sum(lp.shares.values()) == pytest.approx(1.0)


def test_fastest_within_budget_and_fastest():
    work = TOKENS * JOB.epochs
    fast = solve_shares(FOUR, JOB.model_copy(update={"objective": "fastest"}), work=work, nbytes=BYTES)
    cheap = solve_shares(FOUR, JOB, work=work, nbytes=BYTES)
    assert fast.makespan_hours < cheap.makespan_hours
    mid = (fast.cost_usd + cheap.cost_usd) / 2
    job = JOB.model_copy(update={"objective": "fastest_within_budget", "budget_usd": mid})
    r = solve_shares(FOUR, job, work=work, nbytes=BYTES)
    assert r.cost_usd <= mid * (1 + 1e-9)
    assert fast.makespan_hours < r.makespan_hours < cheap.makespan_hours


def test_infeasible_messages_name_the_limit_and_shortfall():
    work = TOKENS * JOB.epochs
    fast = solve_shares(FOUR, JOB.model_copy(update={"objective": "fastest"}), work=work, nbytes=BYTES)
    with pytest.raises(PlanInfeasible, match=rf"deadline 2 h needs {fast.makespan_hours:.2f} h"):
        solve_shares(FOUR, JOB.model_copy(update={"deadline_hours": 2}), work=work, nbytes=BYTES)
    cheap = solve_shares(FOUR, JOB, work=work, nbytes=BYTES)
    with pytest.raises(PlanInfeasible, match=rf"budget 100\.00 USD, cheapest feasible {cheap.cost_usd:,.2f}"):
        solve_shares(FOUR, JOB.model_copy(update={"budget_usd": 100}), work=work, nbytes=BYTES)
    with pytest.raises(ValueError, match="needs deadline_hours"):
        TrainingJob(corpus="c", model_class="m", seq_len=8, global_batch=8, objective="cheapest_by_deadline")


def test_memory_excludes_pools_and_default_jobs_plan():
    cat = load_catalog()
    jobs = {j.name: j for j in load_jobs(catalog=cat)}
    llm = jobs["industry-llm"]
    r = solve_shares(cat, llm, work=1e10, nbytes=4e10)
    assert set(r.excluded) == {"a100-cn-east", "l4-cn-east", "v100-cn-east-idle", "t4-us-west-idle"}
    assert set(r.shares) == {"ascend-cn-north", "h100-us-west", "mi300x-us-west"}


def test_plan_shards_uses_lp_shares():
    n = 20_000
    its = pl.DataFrame({"item_id": [f"d{i:06d}" for i in range(n)]}).with_columns(
        n_tokens=pl.lit(2000, pl.Int64), n_bytes=pl.lit(8000, pl.Int64)
    )
    job = JOB.model_copy(update={"objective": "fastest", "deadline_hours": None})
    plan = plan_shards(its, FOUR, job)
    lp = solve_shares(FOUR, job, work=2 * n * 2000.0, nbytes=n * 8000.0)
    share = dict(plan.pools.select("pool", "share").iter_rows())
    for name, x in lp.shares.items():
        assert share[name] == pytest.approx(x, abs=0.01)
    for row in plan.pools.iter_rows(named=True):
        assert row["shards"] % row["devices"] == 0


def test_two_jobs_compete_for_the_cheap_pool():
    from corpusmill.shards.lp import allocate_jobs

    work = TOKENS * JOB.epochs
    a = JOB.model_copy(update={"name": "a"})
    b = JOB.model_copy(update={"name": "b"})
    alone = solve_shares(FOUR, a, work=work, nbytes=BYTES)
    both = allocate_jobs([a, b], FOUR, {"a": (work, BYTES), "b": (work, BYTES)})
    cheap = min(
        FOUR.pools, key=lambda p: coefficients(p, FOUR, JOB, work, BYTES)[1]
    )  # the cheapest pool per unit of work
    # alone a job fills the cheap pool up to the deadline; together they share its hours
    cap = cheap.count * JOB.deadline_hours
    used = both["a"].device_hours.get(cheap.name, 0) + both["b"].device_hours.get(cheap.name, 0)
    assert used == pytest.approx(cap, rel=1e-6)
    assert both["a"].cost_usd + both["b"].cost_usd > 2 * alone.cost_usd
    for r in both.values():
        assert sum(r.shares.values()) == pytest.approx(1.0)


def test_simulation_balanced_beats_equal_split_and_is_seeded():
    from corpusmill.shards.sim import simulate

    fast, slow = (8, 30_000.0), (8, 10_000.0)
    rates = fast[0] * fast[1], slow[0] * slow[1]
    bal = {"f": (*fast, rates[0] / sum(rates), 1.0), "s": (*slow, rates[1] / sum(rates), 1.0)}
    eq = {"f": (*fast, 0.5, 1.0), "s": (*slow, 0.5, 1.0)}
    kw = {"tokens_per_step": 1e6, "steps": 500, "cv": 0.05, "seed": 3}
    a, b = simulate(bal, **kw), simulate(eq, **kw)
    bound = 500 * 1e6 / sum(rates) / 3600
    assert bound < a.makespan_hours < 1.2 * bound
    assert b.makespan_hours > 1.4 * a.makespan_hours  # slow pool gates every equal step
    assert b.idle_fraction["f"] > 0.6
    assert simulate(bal, **kw) == a
    exact = simulate(bal, **{**kw, "cv": 0.0})
    assert exact.makespan_hours == pytest.approx(bound)


def test_rebalanced_ranks_remove_the_per_device_speed_spread():
    """Devices of one model differ in speed for the whole run (device_cv): with equal per-rank
    shares every step waits for the slowest device; with shares re-derived from each rank's
    measured throughput every W steps the run comes to the bound after the first window."""
    from corpusmill.shards.sim import Jitter, simulate

    pools = {"f": (64, 30_000.0, 0.6, 1.0), "s": (64, 20_000.0, 0.4, 1.0)}
    bound = 1000 * 1e6 / (64 * 50_000) / 3600
    kw = {"tokens_per_step": 1e6, "steps": 1000, "cv": 0.0, "device_cv": 0.05, "seed": 5}
    static = simulate(pools, **kw)
    balanced = simulate(pools, **kw, rebalance_every=20)
    assert static.makespan_hours > 1.08 * bound  # the slowest of 128 devices gates each step
    assert balanced.makespan_hours == pytest.approx(bound, rel=0.02)
    assert balanced.makespan_hours < static.makespan_hours / 1.06
    # the first 20 steps run on the plan's shares, then nobody waits
    first = 20 / 1000 * (1 - bound / static.makespan_hours) * static.makespan_hours
    for pool, idle in balanced.idle_fraction.items():
        assert idle < first / balanced.makespan_hours + 1e-9, pool
        assert static.idle_fraction[pool] > 0.05
    assert simulate(pools, **kw, rebalance_every=20) == balanced  # seeded
    # step noise stays: no split knows the next step's draws
    noisy = simulate(pools, **{**kw, "cv": 0.02}, rebalance_every=20)
    assert noisy.makespan_hours > 1.03 * balanced.makespan_hours
    with pytest.raises(ValueError, match="rebalance_every"):
        simulate(pools, **kw, rebalance_every=-1)
    with pytest.raises(ValueError, match="device_cv"):
        Jitter(device_cv=1.5)


def test_rebalancing_after_a_lost_pool_gives_its_work_to_the_survivors():
    from corpusmill.shards.sim import PoolLoss, simulate

    pools = {"a": (8, 1000.0, 2 / 3, 8.0), "b": (4, 1000.0, 1 / 3, 4.0)}
    kw = {"tokens_per_step": 12_000.0, "steps": 400, "cv": 0.0}
    fixed = simulate(pools, **kw, loss=PoolLoss("b", 0.25))
    rebalanced = simulate(pools, **kw, loss=PoolLoss("b", 0.25), rebalance_every=7)
    assert rebalanced.makespan_hours == pytest.approx(fixed.makespan_hours)
    assert rebalanced.held_hours == pytest.approx(fixed.held_hours)
