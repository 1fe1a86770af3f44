"""Benchmark the LP shard planner on the shipped mixed catalog.

Prints::

    bench: partition.makespan_over_bound V   fastest plan's makespan / (work / total throughput)
    bench: partition.cost_over_lp V          cheapest_by_deadline: plan cost after whole shards
                                             / the LP optimum (goal <= 1.001)
    bench: partition.plan_seconds V          plan_shards wall time for --items samples
    bench: partition.moved_over_min V        re-plan after losing a pool: moved / the lost pool's
                                             bytes (goal <= 1.05)

sim_over_bound, sim_equal_split_over_bound, sim_roundrobin_over_bound: simulated makespan (5%
lognormal jitter, seed 7) over the same bound for our shares, an equal split per device and an
equal share per pool (round-robin shards). Run: ``python -m bench.partition
[--items 1000000]``.
"""

from __future__ import annotations

import argparse
import time

import polars as pl

from corpusmill.compute import load_catalog
from corpusmill.compute import TrainingJob
from corpusmill.shards import GIB, plan_shards
from corpusmill.shards.lp import solve_shares


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.partition")
    ap.add_argument("--items", type=int, default=1_000_000)
    ns = ap.parse_args(argv)
    n = ns.items
    items = pl.DataFrame({"item_id": pl.int_range(n, eager=True).cast(pl.String).str.zfill(9)})
    items = items.with_columns(n_tokens=(pl.int_range(n) * 7919 % 2000 + 1000).cast(pl.Int64))
    items = items.with_columns(n_bytes=pl.col("n_tokens") * 4)
    cat = load_catalog()
    tokens, nbytes = float(items["n_tokens"].sum()), float(items["n_bytes"].sum())
    job = TrainingJob(corpus="text_corpus", model_class="decoder-1b", seq_len=2048,
                      global_batch=512, epochs=2, objective="fastest")  # fmt: skip
    t0 = time.perf_counter()
    plan = plan_shards(items, cat, job)
    seconds = time.perf_counter() - t0
    bound = tokens * job.epochs / sum(p.effective_rate(job.model_class) * 3600 for p in cat.pools)
    print(f"bench: partition.makespan_over_bound {plan.summary['makespan_hours'] / bound:.4f}")
    cheap = job.model_copy(
        update={"objective": "cheapest_by_deadline", "deadline_hours": 3 * bound}
    )
    lp = solve_shares(cat, cheap, work=tokens * job.epochs, nbytes=nbytes)
    cplan = plan_shards(items, cat, cheap)
    print(f"bench: partition.cost_over_lp {cplan.summary['total_cost_usd'] / lp.cost_usd:.5f}")
    print(f"bench: partition.plan_seconds {seconds:.3f}")
    used = plan.pools.filter(pl.col("samples") > 0)
    lost = used.sort("share")["pool"][0]
    again = plan_shards(items, cat.without(lost), job, previous=plan)
    lost_gib = float(used.filter(pl.col("pool") == lost)["bytes"][0]) / GIB
    print(f"bench: partition.moved_over_min {again.summary['moved_gib'] / lost_gib:.4f}")
    from corpusmill.shards.sim import simulate

    rows = {r["pool"]: r for r in plan.pools.iter_rows(named=True)}
    rate = {p.name: p.throughput(job.model_class) * p.availability for p in cat.pools}
    price = {p.name: p.hourly_price() for p in cat.pools}
    steps = 2 * -(-n // job.global_batch)
    tps = tokens / n * job.global_batch
    devices = sum(p.count for p in cat.pools)
    ours = {k: (p.count, rate[k], rows[k]["share"], price[k]) for k, p in
            ((p.name, p) for p in cat.pools)}  # fmt: skip
    equal = {k: (c, r, c / devices, pr) for k, (c, r, _, pr) in ours.items()}
    # round-robin shards: equal shard counts per pool, i.e. an equal share per pool
    rr = {k: (c, r, 1 / len(ours), pr) for k, (c, r, _, pr) in ours.items()}
    bound_s = steps * tps / sum(c * r for c, r, _, _ in ours.values()) / 3600
    for label, cfg in (("sim", ours), ("sim_equal_split", equal), ("sim_roundrobin", rr)):
        res = simulate(cfg, tokens_per_step=tps, steps=steps, cv=0.05, seed=7)
        print(f"bench: partition.{label}_over_bound {res.makespan_hours / bound_s:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
