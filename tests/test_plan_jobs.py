"""Shard plans per training job: the joint allocation over jobs sharing pools, the per-job plan
tables, the skip, ``corpusmill plan``, the corpus version sensor and a pool lost mid-run."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from click.testing import CliRunner

from corpusmill import lake
from corpusmill.compute import TrainingJob, load_catalog
from corpusmill.layout import Lake

FIXTURES = Path(__file__).parent / "fixtures"
FOUR = load_catalog(FIXTURES / "compute_4pools.yaml")
DEADLINE = 4.0
JOBS = [
    TrainingJob(name="pretrain", corpus="text_corpus", model_class="decoder-1b", seq_len=2048,
                global_batch=64, deadline_hours=DEADLINE, objective="cheapest_by_deadline"),
    TrainingJob(name="tune", corpus="sft_pairs", model_class="decoder-1b", seq_len=2048,
                global_batch=64, deadline_hours=DEADLINE, objective="cheapest_by_deadline"),
    TrainingJob(name="forecast", corpus="timeseries_windows", model_class="decoder-1b",
                seq_len=512, global_batch=64, objective="fastest"),
]  # fmt: skip
JOBS_YAML = """training_jobs:
  - {name: pretrain, corpus: text_corpus, model_class: decoder-1b, seq_len: 2048, global_batch: 64,
     deadline_hours: 4, objective: cheapest_by_deadline}
  - {name: tune, corpus: sft_pairs, model_class: decoder-1b, seq_len: 2048, global_batch: 64,
     deadline_hours: 4, objective: cheapest_by_deadline}
  - {name: forecast, corpus: timeseries_windows, model_class: decoder-1b, seq_len: 512,
     global_batch: 64, objective: fastest}
"""


def _corpora(root: Path, n: int = 3_000) -> None:
    """text_corpus and sft_pairs of ~4.8e9 tokens each (big enough that the jobs compete for the
    cheap pool within the deadline); timeseries_windows is not built."""
    k = range(n)
    tokens = pl.Series([j * 7919 % 3000 * 1000 + 100_000 for j in k], dtype=pl.Int64)
    lake.overwrite(Lake(root).table("text_corpus"), pl.DataFrame(
        {"doc_id": [f"doc-{j:06d}" for j in k], "text": [f"text {j}" for j in k], "n_tokens": tokens}
    ))  # fmt: skip
    lake.overwrite(Lake(root).table("sft_pairs"), pl.DataFrame(
        {"pair_id": [f"pair-{j:06d}" for j in k], "instruction": [f"do {j}" for j in k],
         "response": [f"done {j}" for j in k], "n_tokens": tokens}
    ))  # fmt: skip


@pytest.fixture
def home(tmp_path: Path):
    from corpusmill.home import activate

    h = activate(tmp_path / "home")
    _corpora(h.lake)
    return h


def _work(root: Path, job: TrainingJob) -> tuple[float, float]:
    from corpusmill.corpora import corpus

    spec = corpus(job.corpus)
    items = spec.items(lake.read(Lake(root).table(spec.name)))
    return float(items["n_tokens"].sum()) * job.epochs, float(items["n_bytes"].sum())


def test_joint_allocation_shares_the_pools_and_skips_unbuilt_corpora(home, tmp_path) -> None:
    from corpusmill.plans import joint_allocation
    from corpusmill.shards.lp import allocate_jobs

    joint = joint_allocation(home.lake, FOUR, JOBS, cache_dir=tmp_path / "alloc")
    assert joint.skipped == {
        "forecast": "skipped: timeseries_windows is not built (its inputs have no rows)"
    }
    assert set(joint.parts) == {"pretrain", "tune"} and joint.versions == {"pretrain": 0, "tune": 0}
    work = {j.name: _work(home.lake, j) for j in JOBS[:2]}
    assert joint.parts == allocate_jobs(JOBS[:2], FOUR, work)
    # the cheap pool is the one they compete for: together its hours fill the deadline exactly
    l4 = FOUR.pool("l4-cn-east")
    for j in JOBS[:2]:  # alone, each job would hold the cheap pool for the whole deadline
        alone = allocate_jobs([j], FOUR, {j.name: work[j.name]})[j.name]
        assert alone.device_hours["l4-cn-east"] / l4.count == pytest.approx(DEADLINE, rel=1e-6)
    used = sum(p.device_hours.get("l4-cn-east", 0.0) for p in joint.parts.values()) / l4.count
    assert used == pytest.approx(DEADLINE, rel=1e-6)
    for part in joint.parts.values():
        assert sum(part.shares.values()) == pytest.approx(1.0)
    # cached by its inputs: a new process reads the same allocation back from the cache file
    from corpusmill import plans

    plans._ALLOCATIONS.clear()
    assert len(list((tmp_path / "alloc").glob("*.json"))) == 1
    assert joint_allocation(home.lake, FOUR, JOBS, cache_dir=tmp_path / "alloc") == joint


def test_each_job_publishes_its_part_beside_the_other_jobs_plans(home) -> None:
    from corpusmill.plans import joint_allocation, plan_corpus, plan_history

    joint = joint_allocation(home.lake, FOUR, JOBS)
    out = {
        j.name: plan_corpus(home.lake, home.shards, FOUR, j, job_name=j.name,
                            allocation=joint.parts[j.name])
        for j in JOBS[:2]
    }  # fmt: skip
    at = Lake(home.lake)
    for name, pub in out.items():
        part = joint.parts[name]
        assert pub.plan.summary["allocation"]["device_hours"] == dict(sorted(part.device_hours.items()))
        pools = pub.plan.pools.filter(pl.col("samples") > 0)
        assert set(pools["pool"]) == set(part.shares)
        for r in pools.iter_rows(named=True):  # the hours it got, within whole items and shards
            got = part.device_hours[r["pool"]] / FOUR.pool(r["pool"]).count
            assert r["predicted_hours"] == pytest.approx(got, rel=0.01)
            assert r["status"] == f"joint lp: share {part.shares[r['pool']]:.4f}"
    for table in ("shard_plan", "shards", "shard_pools"):
        df = lake.read(at.table(table))
        assert dict(df.group_by("job_name").agg(pl.col("plan_id").first()).iter_rows()) == {
            n: p.plan.plan_id for n, p in out.items()
        }, table
    plan = lake.read(at.table("shard_plan"))
    for name, pub in out.items():
        assert plan.filter(pl.col("job_name") == name)["samples"].sum() == 3_000
        assert plan.filter(pl.col("job_name") == name).height == pub.plan.shards.height
    history = plan_history(home.lake)
    assert history.select("job_name", "corpus", "corpus_version").sort("job_name").rows() == [
        ("pretrain", "text_corpus", 0), ("tune", "sft_pairs", 0)]  # fmt: skip
    assert history["catalog_hash"].n_unique() == 1 and history["created_utc"].null_count() == 0
    # publishing a job's plan again with the same inputs commits nothing to the plan tables
    before = {t: lake.open_table(at.table(t)).version() for t in ("shard_plan", "shards", "shard_pools")}
    again = plan_corpus(home.lake, home.shards, FOUR, JOBS[1], job_name="tune",
                        allocation=joint.parts["tune"])  # fmt: skip
    assert again.plan.plan_id == out["tune"].plan.plan_id
    assert {t: lake.open_table(at.table(t)).version() for t in before} == before


def _cli(*args: str) -> tuple[int, str]:
    from pipelines.cli import main

    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.output


def test_plan_command_prints_each_jobs_pool_table(home, tmp_path) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(JOBS_YAML, encoding="utf-8")
    base = ["plan", "--home", str(home.root), "--catalog", str(FIXTURES / "compute_4pools.yaml"),
            "--jobs", str(jobs)]  # fmt: skip
    code, out = _cli(*base)
    assert code == 0, out
    assert "pretrain: text_corpus v0" in out and "tune: sft_pairs v0" in out
    assert "forecast: skipped: timeseries_windows is not built" in out
    for col in ("pool", "devices", "shards", "tokens", "hours", "cost_usd", "egress_gib", "idle"):
        assert col in out
    assert "l4-cn-east" in out and "pools shared with tune" in out
    assert not (home.shards).exists() or not any(home.shards.iterdir()), "plan writes nothing"

    code, out = _cli(*base, "--job", "tune", "--simulate", "--lose", "ascend-cn-north@0.5")
    assert code == 0, out
    assert "pretrain: text_corpus" not in out and "sim_idle" in out
    assert "simulated makespan" in out and "(pool ascend-cn-north lost at" in out
    assert "equal split" in out and "round robin" in out

    code, out = _cli(*base, "--job", "tune", "--simulate", "--lose", "l4-cn-east@0h")
    assert code == 0 and "(pool l4-cn-east lost at 0 h)" in out, out
    assert "5% jitter per device, 1% per step" in out

    code, out = _cli(*base, "--job", "tune", "--simulate", "--jitter", "0.1,0.02")
    assert code == 0 and "10% jitter per device, 2% per step" in out, out
    code, out = _cli(*base, "--job", "tune", "--simulate", "--jitter", "fast")
    assert code == 2 and "--jitter 'fast'" in out, out

    code, out = _cli(*base, "--job", "nope")
    assert code == 2 and "no training job 'nope'" in out


def test_plan_command_replans_from_a_previous_plan(home, tmp_path) -> None:
    from corpusmill.plans import joint_allocation, plan_corpus

    one = [JOBS[0].model_copy(update={"deadline_hours": None, "objective": "fastest"})]
    first = plan_corpus(home.lake, home.shards, FOUR, one[0], job_name="pretrain",
                        allocation=joint_allocation(home.lake, FOUR, one).parts["pretrain"])  # fmt: skip
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("training_jobs:\n  - {name: pretrain, corpus: text_corpus, model_class: "
                    "decoder-1b, seq_len: 2048, global_batch: 64, objective: fastest}\n")  # fmt: skip
    smaller = tmp_path / "three.yaml"
    text = (FIXTURES / "compute_4pools.yaml").read_text(encoding="utf-8")
    smaller.write_text(text[: text.index("  - name: h100-sg")], encoding="utf-8")
    lost = first.plan.pools.filter(pl.col("pool") == "h100-sg")["tokens"][0] / first.plan.pools["tokens"].sum()
    for ref in (first.plan.plan_id, str(home.shards / first.plan.plan_id)):
        code, out = _cli("plan", "--home", str(home.root), "--catalog", str(smaller),
                         "--jobs", str(jobs), "--previous", ref)  # fmt: skip
        assert code == 0, out
        assert f"re-plan from {first.plan.plan_id}: moved {lost:.2%}" in out
        assert f"unavoidable minimum {lost:.2%}" in out and "h100-sg" not in out
    code, out = _cli("plan", "--home", str(home.root), "--jobs", str(jobs), "--previous", "nope")
    assert code == 2 and "neither a folder with plan.json nor a plan id" in out


def test_corpus_version_sensor_requests_the_jobs_of_a_new_version(factory: Path, tmp_path) -> None:
    from pipelines.definitions import build_definitions

    defs = build_definitions(factory / "sources.yaml", tmp_path / "home")
    sensor = defs.resolve_sensor_def("corpus_version_sensor")
    CORPORA = ("sft_pairs", "text_corpus", "timeseries_windows")  # what the packaged jobs train on

    def tick(instance, cursor=None):
        ctx = dg.build_multi_asset_sensor_context(
            monitored_assets=[dg.AssetKey(c) for c in CORPORA], instance=instance, definitions=defs,
            cursor=cursor,
        )  # fmt: skip
        data = sensor.evaluate_tick(ctx)
        reqs = sorted((r.partition_key, r.run_key, [k.to_user_string() for k in r.asset_selection],
                       r.tags["corpusmill/trigger"]) for r in data.run_requests)  # fmt: skip
        return reqs, data.cursor

    def corpus_built(instance, name: str, **meta) -> None:
        instance.report_runless_asset_event(dg.AssetMaterialization(name, metadata=meta))

    with dg.DagsterInstance.ephemeral() as instance:
        assert tick(instance)[0] == []
        corpus_built(instance, "text_corpus", version=0, new_version=True)
        corpus_built(instance, "sft_pairs", skipped="skipped: no maintenance_records")
        reqs, cursor = tick(instance)
        assert reqs == [("industry-llm", "industry-llm:text_corpus:v0", ["shard_plan"],
                         "corpus_version_sensor")]  # fmt: skip
        assert tick(instance, cursor)[0] == [], "a version is requested once"
        corpus_built(instance, "text_corpus", version=0, new_version=False)  # a rebuild, same data
        corpus_built(instance, "timeseries_windows", version=3, new_version=True)
        reqs, cursor = tick(instance, cursor)
        assert reqs == [("maintenance-forecaster", "maintenance-forecaster:timeseries_windows:v3",
                         ["shard_plan"], "corpus_version_sensor")]  # fmt: skip


def test_a_pool_lost_mid_run_hands_its_work_to_the_others() -> None:
    from corpusmill.shards.sim import PoolLoss, simulate

    # a: 8 devices x 1,000 tok/s, b: 4 x 1,000; shares by rate; lose b after 25% of the steps
    pools = {"a": (8, 1000.0, 2 / 3, 8.0), "b": (4, 1000.0, 1 / 3, 4.0)}
    kw = {"tokens_per_step": 12_000.0, "steps": 400, "cv": 0.0}
    whole = simulate(pools, **kw)
    assert whole.makespan_hours == pytest.approx(400 / 3600)  # 1 s per step
    lost = simulate(pools, **kw, loss=PoolLoss("b", 0.25))
    # 100 steps at 1 s, then 300 steps of 12,000 tokens on a's 8,000 tok/s: 1.5 s each
    assert lost.lost_at_hours == pytest.approx(100 / 3600)
    assert lost.makespan_hours == pytest.approx((100 + 300 * 1.5) / 3600)
    assert lost.held_hours == pytest.approx({"a": 550 / 3600, "b": 100 / 3600})
    assert lost.idle_fraction == pytest.approx({"a": 0.0, "b": 0.0}, abs=1e-12)
    assert lost.cost_usd == pytest.approx(550 / 3600 * 8 + 100 / 3600 * 4)
    # a re-plan that gives the lost share to a third pool instead
    three = {**pools, "c": (8, 1000.0, 0.0, 8.0)}
    replanned = simulate(three, **kw, loss=PoolLoss("b", 0.25, after={"a": 0.5, "c": 0.5}))
    assert "c" not in replanned.idle_fraction  # c had no share before and is not charged
    jittered = simulate(pools, **{**kw, "cv": 0.05}, loss=PoolLoss("b", 0.25))
    assert jittered.makespan_hours > lost.makespan_hours
    with pytest.raises(ValueError, match="has no share"):
        simulate(pools, **kw, loss=PoolLoss("zz", 0.5))
    with pytest.raises(ValueError, match="fraction of steps"):
        PoolLoss("b", 1.5)


def test_a_pool_lost_at_a_time_goes_at_the_next_step_boundary() -> None:
    from corpusmill.shards.sim import PoolLoss, simulate

    pools = {"a": (8, 1000.0, 2 / 3, 8.0), "b": (4, 1000.0, 1 / 3, 4.0)}
    kw = {"tokens_per_step": 12_000.0, "steps": 400, "cv": 0.0}
    # 1 s steps: lost at 99.5 s means after step 100 (the step in flight finishes)
    at_time = simulate(pools, **kw, chunk=64, loss=PoolLoss("b", at_hours=99.5 / 3600))
    assert at_time == simulate(pools, **kw, loss=PoolLoss("b", 0.25))
    assert simulate(pools, **kw, loss=PoolLoss("b", at_hours=1.0)).makespan_hours == (
        pytest.approx(400 / 3600))  # after the run: nothing changes  # fmt: skip
    with pytest.raises(ValueError, match="needs one of"):
        PoolLoss("b")


def test_jobs_that_compete_for_no_pool_keep_their_own_objective() -> None:
    from corpusmill.shards.lp import allocate, allocate_jobs, solve_shares

    base = {"model_class": "decoder-1b", "seq_len": 2048, "global_batch": 64}
    east = TrainingJob(name="east", corpus="text_corpus", objective="fastest",
                       pools=["a100-cn-east", "l4-cn-east"], **base)  # fmt: skip
    north = TrainingJob(name="north", corpus="sft_pairs", objective="fastest",
                        pools=["ascend-cn-north"], **base)  # fmt: skip
    rules = TrainingJob(name="rules", corpus="sft_pairs", pools=["h100-sg"], **base)
    work = {n: (4.8e9, 5.6e4) for n in ("east", "north", "rules")}
    got = allocate([east, north, rules], FOUR, work)
    assert set(got) == {"east", "north"}, "a lone job without an objective is left to the rules"
    alone = solve_shares(FOUR, east, work=4.8e9, nbytes=5.6e4)
    assert got["east"].shares == pytest.approx(alone.shares) and got["east"].shared_with == ()
    assert len(got["east"].shares) == 2, "fastest uses both pools (a cost LP would take one)"
    # a third job on l4 joins east's group: both now share one cost LP
    l4 = TrainingJob(name="l4", corpus="sft_pairs", objective="cheapest_by_deadline",
                     deadline_hours=10, pools=["l4-cn-east"], **base)  # fmt: skip
    work["l4"] = (1e9, 1e4)
    both = allocate([east, l4, north], FOUR, work)
    assert both["east"] == allocate_jobs([east, l4], FOUR, work)["east"]
    assert both["l4"].shared_with == ("east",) and both["north"].shared_with == ()


def test_a_corpus_version_without_rows_is_skipped_with_the_reason(home) -> None:
    from corpusmill.plans import joint_allocation

    empty = pl.DataFrame({"window_id": pl.Series([], dtype=pl.String)})
    lake.overwrite(Lake(home.lake).table("timeseries_windows"), empty)
    joint = joint_allocation(home.lake, FOUR, JOBS)
    assert joint.skipped == {"forecast": "skipped: timeseries_windows v0 has no rows"}
    assert set(joint.parts) == {"pretrain", "tune"}
