"""Shard planner and writer, and the compute catalog / job files."""

from __future__ import annotations

import textwrap

import polars as pl
import pytest

from corpusmill.compute import (
    Catalog,
    ComputeConfigError,
    TrainingJob,
    load_catalog,
    load_job,
)
from corpusmill.shards import GIB, InfeasiblePlanError, plan_shards, read_plan, write_shards


def pool(name, region="r1", *, count=8, tps=10_000.0, price=1.0, avail=1.0, egress=0.05):
    return {
        "name": name, "accelerator": "X", "count": count, "memory_gib": 40, "tokens_per_s": tps,
        "region": region, "price_per_device_hour": price, "availability": avail,
        "egress_price_per_gib": egress,
    }  # fmt: skip


def catalog(*pools, data_region="r1"):
    return Catalog.model_validate({"data_region": data_region, "pools": list(pools)})


THREE = catalog(
    pool("fast", count=8, tps=30_000, price=3.0, avail=0.95),
    pool("mid", count=16, tps=12_000, price=1.2, avail=0.9),
    pool("slow", region="r2", count=12, tps=5_000, price=0.4, avail=1.0, egress=0.02),
)
JOB = TrainingJob(corpus="text_corpus", model_class="decoder-1b", seq_len=2048, global_batch=256)


def items(n=10_000, bytes_per_token=4):
    df = pl.DataFrame({"item_id": [f"doc-{i:06d}" for i in range(n)]})
    df = df.with_columns(n_tokens=(pl.int_range(n) * 7919 % 3000 + 100).cast(pl.Int64))
    return df.with_columns(n_bytes=pl.col("n_tokens") * bytes_per_token)


def test_same_inputs_same_plan():
    a = plan_shards(items(), THREE, JOB)
    b = plan_shards(items().reverse(), THREE, JOB)  # input order does not matter
    assert a.plan_id == b.plan_id
    assert a.shards.equals(b.shards) and a.assignment.equals(b.assignment)
    other = plan_shards(items(), THREE, JOB.model_copy(update={"epochs": 2.0}))
    assert other.plan_id != a.plan_id


def test_pools_finish_together_and_shards_fit_devices():
    plan = plan_shards(items(), THREE, JOB)
    assert plan.summary["finish_ratio"] <= 1.1
    for row in plan.pools.iter_rows(named=True):
        assert row["shards"] % row["devices"] == 0  # every device reads the same number
    assert plan.shards["bytes"].max() <= 64 * 2**20
    assert plan.assignment["item_id"].n_unique() == 10_000
    assert plan.shards["samples"].sum() == 10_000
    # each device of a pool reads the same tokens, within an item at either end of its shard
    per_dev = plan.shards.group_by("pool", "rank").agg(pl.col("tokens").sum())
    spread = per_dev.group_by("pool").agg((pl.col("tokens").max() - pl.col("tokens").min()))
    assert spread["tokens"].max() <= 2 * 3100


def test_faster_pool_gets_proportionally_more_tokens():
    plan = plan_shards(items(), THREE, JOB)
    tok = dict(plan.pools.select("pool", "tokens").iter_rows())
    rate = {p.name: p.effective_rate("decoder-1b") for p in THREE.pools}
    assert tok["fast"] > tok["mid"] > tok["slow"]
    for name in rate:
        want = rate[name] / sum(rate.values())
        assert tok[name] / sum(tok.values()) == pytest.approx(want, rel=0.01)


def test_expensive_egress_shrinks_remote_share():
    cheap = plan_shards(items(), THREE, JOB)
    slow = THREE.pool("slow")
    # make the transfer cost more per token than the compute time the remote pool saves
    dear = THREE.model_copy(
        update={
            "pools": [p for p in THREE.pools if p.name != "slow"]
            + [slow.model_copy(update={"egress_price_per_gib": 500.0})]
        }
    )
    plan = plan_shards(items(), dear, JOB)
    share = lambda p: dict(p.pools.select("pool", "share").iter_rows())["slow"]  # noqa: E731
    assert share(cheap) > 0.05
    assert share(plan) < share(cheap)
    assert plan.summary["pool_status"]["slow"].startswith("dropped: egress")
    # a deadline that needs the remote pool re-admits it with a smaller share
    need = cheap.summary["makespan_hours"] * 1.05
    tight = plan_shards(items(), dear, JOB.model_copy(update={"deadline_hours": need}))
    assert 0 < share(tight) < share(cheap)
    assert tight.summary["makespan_hours"] <= need * 1.001
    assert tight.summary["pool_status"]["slow"].startswith("shrunk")


def test_replan_after_losing_a_pool_moves_only_its_items():
    first = plan_shards(items(), THREE, JOB)
    second = plan_shards(items(), THREE.without("mid"), JOB, previous=first)
    lost = first.pools.filter(pl.col("pool") == "mid")["bytes"][0]
    assert second.summary["moved_gib"] == pytest.approx(lost / GIB)
    before = dict(first.assignment.select("item_id", "pool").iter_rows())
    after = dict(second.assignment.select("item_id", "pool").iter_rows())
    changed = {i for i in before if before[i] != after[i]}
    assert changed == {i for i, p in before.items() if p == "mid"}
    assert second.summary["finish_ratio"] <= 1.1


def test_budget_and_deadline_infeasible_raise_clear_errors():
    with pytest.raises(InfeasiblePlanError, match=r"budget 0\.01 USD cannot be met.*'slow'"):
        plan_shards(items(), THREE, JOB.model_copy(update={"budget_usd": 0.01}))
    with pytest.raises(InfeasiblePlanError, match=r"deadline 1e-06 h cannot be met"):
        plan_shards(items(), THREE, JOB.model_copy(update={"deadline_hours": 1e-6}))
    # a budget between the cheapest and the balanced plan drops the priciest pool per token
    full = plan_shards(items(), THREE, JOB)
    budget = full.summary["total_cost_usd"] * 0.9
    plan = plan_shards(items(), THREE, JOB.model_copy(update={"budget_usd": budget}))
    assert plan.summary["total_cost_usd"] <= budget
    assert plan.summary["pool_status"]["fast"].startswith("dropped: over budget")


def test_write_shards_is_idempotent_and_matches_the_plan(tmp_path):
    its = items(2_000)
    corpus = its.rename({"item_id": "doc_id"}).with_columns(text=pl.col("doc_id") + " body")
    plan = plan_shards(its, THREE, JOB)
    done = write_shards(plan, corpus, tmp_path, id_column="doc_id", formats=("parquet",))
    n_files = plan.shards.height + 2  # shards + plan.json + assignment.parquet
    assert done.summary["write"] == {"written": n_files, "skipped": 0}
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / plan.plan_id).iterdir()}
    again = write_shards(plan, corpus, tmp_path, id_column="doc_id", formats=("parquet",))
    assert again.summary["write"] == {"written": 0, "skipped": n_files}
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / plan.plan_id).iterdir()} == mtimes
    assert not list((tmp_path / plan.plan_id).glob(".*.tmp"))
    for row in done.shards.iter_rows(named=True):
        df = pl.read_parquet(tmp_path / row["file"])
        assert df.height == row["samples"]
        assert df["n_tokens"].sum() == row["tokens"]
        assert df["doc_id"].min() == row["first_item"] and df["doc_id"].max() == row["last_item"]
    back = read_plan(tmp_path / plan.plan_id)
    assert back.plan_id == plan.plan_id and back.assignment.equals(plan.assignment)
    # a re-plan can start from the plan read back
    again_plan = plan_shards(its, THREE.without("fast"), JOB, previous=back)
    assert again_plan.summary["previous_plan_id"] == plan.plan_id


def test_default_files_load():
    cat = load_catalog()
    assert len(cat.pools) >= 3 and len({p.region for p in cat.pools}) >= 2
    job = load_job()
    plan = plan_shards(items(), cat, job)
    assert plan.summary["finish_ratio"] <= 1.1


def test_catalog_errors_name_the_pool_and_field(tmp_path):
    path = tmp_path / "compute.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            data_region: r1
            pools:
              - {name: ok, accelerator: L4, count: 2, memory_gib: 24, tokens_per_s: 5000,
                 region: r1, price_per_device_hour: 0.5, availability: 0.9}
              - {name: h100-west, accelerator: H100-80GB, count: 0, memory_gib: 80,
                 tokens_per_s: 26000, region: r2, price_per_device_hour: 3, availability: 1.5,
                 egress_price_gib: 0.1}
            """
        )
    )
    with pytest.raises(ComputeConfigError) as e:
        load_catalog(path)
    msg = str(e.value)
    assert "pool 'h100-west' (pools[1]), field 'count': Input should be greater than 0" in msg
    assert "pool 'h100-west' (pools[1]), field 'availability'" in msg
    assert "field 'egress_price_gib': unknown key" in msg
    assert "'ok'" not in msg


def test_job_errors_name_the_field(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("corpus: text_corpus\nmodel_class: decoder-1b\nglobal_batch: 8\nepoch: 2\n")
    with pytest.raises(ComputeConfigError) as e:
        load_job(path)
    assert "field 'seq_len': required field is missing" in str(e.value)
    assert "field 'epoch': unknown key" in str(e.value)


def mixed_corpus(n=6_000):
    """A corpus with a known mix: 70/15/15 splits, sites 50/30/20 %, two equipment classes
    (1 in 4 a pump), labels 1 in 10 positive."""
    k = range(n)
    splits = ["train"] * 14 + ["validation"] * 3 + ["test"] * 3
    sites = ["a"] * 5 + ["b"] * 3 + ["c"] * 2
    return pl.DataFrame(
        {
            "window_id": [f"w-{j:06d}" for j in k],
            "split": [splits[j % 20] for j in k],
            "site": [sites[j % 10 * 7 % 10] for j in k],
            "equipment_class": ["pump" if j % 4 == 0 else "motor" for j in k],
            "label": pl.Series([int(j * 7 % 10 == 3) for j in k], dtype=pl.Int8),
            "n_tokens": pl.Series([j * 7919 % 300 + 50 for j in k], dtype=pl.Int64),
        }
    )


def mix_deviation(plan, frame, columns):
    """Largest |share in shard - share in split| over shards, columns and values (from scratch)."""
    df = plan.assignment.join(frame.rename({"window_id": "item_id"}), on="item_id")
    worst = 0.0
    for (split,), part in df.group_by("split"):
        for c in columns:
            want = {v: k / part.height for v, k in part[c].value_counts().iter_rows()}
            for _, shard in part.group_by("shard_id"):
                have = {v: k / shard.height for v, k in shard[c].value_counts().iter_rows()}
                worst = max(worst, *(abs(have.get(v, 0) - w) for v, w in want.items()))
    return worst


def test_stratified_shards_hold_one_split_and_keep_its_mix():
    from corpusmill.shards import stratify_shards

    frame = mixed_corpus()
    its = frame.select(pl.col("window_id").alias("item_id"), "n_tokens",
                       n_bytes=pl.col("n_tokens") * 8)  # fmt: skip
    job = JOB.model_copy(update={"target_shard_mib": 0.5})
    two = catalog(pool("a", count=2), pool("b", count=2, tps=5_000))
    plan = plan_shards(its, two, job)
    strat = stratify_shards(plan, frame.with_columns(pl.lit("x").alias("_unused")), its,
                            id_column="window_id", stratify_by=("site", "equipment_class",
                            "label", "line"), tolerance=0.05)  # fmt: skip
    s = strat.summary["stratification"]
    assert s["by"] == ["site", "equipment_class", "label"] and s["ignored"] == ["line"]
    # no shard mixes splits
    joined = strat.assignment.join(frame.rename({"window_id": "item_id"}), on="item_id")
    per_shard = joined.group_by("shard_id").agg(pl.col("split").n_unique())
    assert per_shard["split"].max() == 1
    assert joined.height == 6_000 and strat.shards["samples"].sum() == 6_000
    # the pools keep their items and tokens
    assert strat.pools["tokens"].to_list() == plan.pools["tokens"].to_list()
    assert dict(strat.assignment.select("item_id", "pool").iter_rows()) == dict(
        plan.assignment.select("item_id", "pool").iter_rows()
    )
    dev = mix_deviation(strat, frame, ["site", "equipment_class", "label"])
    assert dev == pytest.approx(s["max_deviation"])
    assert dev <= 0.05 and s["within_tolerance"]
    assert s["splits"] == {
        "test": {"samples": 900, "shards": s["splits"]["test"]["shards"]},
        "train": {"samples": 4200, "shards": s["splits"]["train"]["shards"]},
        "validation": {"samples": 900, "shards": s["splits"]["validation"]["shards"]},
    }
    assert set(s["shard_split"].values()) == {"train", "validation", "test"}
    # the unstratified plan mixes splits (the contiguous cut ignores them)
    before = plan.assignment.join(frame.rename({"window_id": "item_id"}), on="item_id")
    assert before.group_by("shard_id").agg(pl.col("split").n_unique())["split"].max() == 3
    assert strat.plan_id != plan.plan_id and strat.summary["unstratified_plan_id"] == plan.plan_id


def test_unstratifiable_shards_report_their_real_deviation():
    from corpusmill.shards import stratify_shards

    frame = mixed_corpus(120)
    its = frame.select(pl.col("window_id").alias("item_id"), "n_tokens",
                       n_bytes=pl.col("n_tokens") * 8)  # fmt: skip
    # 36 devices for 120 items: shards of 2-4 samples cannot hold a 1-in-10 label mix
    plan = plan_shards(its, THREE, JOB)
    strat = stratify_shards(plan, frame, its, id_column="window_id", tolerance=0.05)
    s = strat.summary["stratification"]
    dev = mix_deviation(strat, frame, ["site", "equipment_class", "label"])
    assert dev > 0.05
    assert s["max_deviation"] == pytest.approx(dev) and not s["within_tolerance"]
    assert any("stratification: shard" in w and "> tolerance 0.05" in w
               for w in strat.summary["warnings"])  # fmt: skip


def test_stratify_without_columns_returns_the_plan():
    from corpusmill.shards import stratify_shards

    its = items(500)
    corpus = its.rename({"item_id": "doc_id"})
    plan = plan_shards(its, THREE, JOB)
    same = stratify_shards(plan, corpus, its, id_column="doc_id")
    assert same.plan_id == plan.plan_id and same.assignment.equals(plan.assignment)
    assert same.summary["stratification"] == {
        "by": [], "ignored": ["site", "equipment_class", "label"]
    }  # fmt: skip


def lake_with_corpus(tmp_path, n=3_000):
    from corpusmill import lake
    from corpusmill.layout import Lake

    k = range(n)
    frame = pl.DataFrame(
        {
            "doc_id": [f"doc-{j:06d}" for j in k],
            "text": [f"text {j} " * (j % 5 + 1) for j in k],
            "n_tokens": pl.Series([j * 7919 % 3000 + 100 for j in k], dtype=pl.Int64),
            "label": pl.Series([j % 4 == 0 for j in k], dtype=pl.Int8),
        }
    )
    lake.overwrite(Lake(tmp_path / "lake").table("text_corpus"), frame)
    return tmp_path / "lake", tmp_path / "shards"


def test_replan_in_the_lake_moves_only_what_must_and_keeps_every_plan(tmp_path):
    from corpusmill.layout import Lake
    from corpusmill.plans import latest_plan, plan_corpus, plan_history

    root, shards = lake_with_corpus(tmp_path)
    assert latest_plan(root, "pretrain") is None
    first = plan_corpus(root, shards, THREE, JOB, job_name="pretrain")
    assert first.plan.summary["replan"]["previous_plan_id"] is None
    # the same inputs again: the same plan, one row
    again = plan_corpus(root, shards, THREE, JOB, job_name="pretrain")
    assert again.plan.plan_id == first.plan.plan_id
    assert plan_history(root, "pretrain")["plan_id"].to_list() == [first.plan.plan_id]
    assert latest_plan(root, "pretrain").plan_id == first.plan.plan_id

    # a pool is lost: the re-plan starts from the latest plan and moves only what must move
    second = plan_corpus(root, shards, THREE.without("mid"), JOB, job_name="pretrain")
    r = second.plan.summary["replan"]
    assert r["previous_plan_id"] == first.plan.plan_id
    lost = int(first.plan.pools.filter(pl.col("pool") == "mid")["tokens"][0])
    assert r["min_moved_tokens"] == lost  # the gone pool's tokens; the others only gain
    assert 0 < r["moved_tokens"] <= 1.05 * r["min_moved_tokens"]
    assert r["moved_fraction"] == pytest.approx(lost / first.plan.summary["tokens"])
    # re-running the re-plan reproduces it (it starts from the same previous plan)
    third = plan_corpus(root, shards, THREE.without("mid"), JOB, job_name="pretrain")
    assert third.plan.plan_id == second.plan.plan_id
    # another job has its own history
    other = plan_corpus(root, shards, THREE, JOB, job_name="finetune")
    assert other.plan.plan_id == first.plan.plan_id  # same inputs, no previous: same plan

    hist = plan_history(root)
    assert hist.height == 3 and hist["plan_id"].n_unique() == 2  # one row per job and plan
    by_job = dict(hist.group_by("job_name").len().iter_rows())
    assert by_job == {"pretrain": 2, "finetune": 1}
    row = hist.filter(pl.col("plan_id") == second.plan.plan_id).row(0, named=True)
    assert row["corpus"] == "text_corpus" and row["corpus_version"] == 0
    assert row["previous_plan_id"] == first.plan.plan_id and len(row["catalog_hash"]) == 16
    assert row["min_moved_fraction"] == pytest.approx(r["min_moved_fraction"])
    assert latest_plan(root, "pretrain").plan_id == second.plan.plan_id
    assert "shard_plans" in Lake(root).views(["text_corpus"])
    # the files of the plan: parquet + tar per shard by default
    plan_dir = shards / second.plan.plan_id
    n = second.plan.shards.height
    assert len(list(plan_dir.glob("*.parquet"))) == n + 1 and len(list(plan_dir.glob("*.tar"))) == n
