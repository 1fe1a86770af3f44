"""Partition: the shard plan for a compute catalog and a training job, and the shard files."""


import dagster as dg
import polars as pl

from assets._common import frame_md
from assets.corpora import CORPORA
from assets.standardize import EAGER
from corpusmill import lake
from corpusmill.config import SourcesConfig
from pipelines.resources import ComputeResource, CorpusmillResource


def corpus_items(corpus: pl.DataFrame, id_col: str) -> pl.DataFrame:
    """One row per training sample: item_id, n_tokens, n_bytes (what the planner sizes by)."""
    if "n_tokens" in corpus.columns:
        tokens = pl.col("n_tokens").cast(pl.Int64)
    elif "n_steps" in corpus.columns:  # sensor windows: one token per channel per step
        tokens = (pl.col("n_steps") * pl.col("channels").list.len()).cast(pl.Int64)
    else:
        tokens = pl.lit(1, pl.Int64)
    size = pl.sum_horizontal(
        [pl.col(c).cast(pl.String).str.len_bytes().fill_null(0)
         for c, t in corpus.schema.items() if t == pl.String]
        or [pl.lit(0)]
    )  # fmt: skip
    if "n_steps" in corpus.columns:
        size = size + pl.col("n_steps") * pl.col("channels").list.len() * 8
    return corpus.select(
        pl.col(id_col).cast(pl.String).alias("item_id"),
        tokens.clip(lower_bound=1).alias("n_tokens"),
        size.cast(pl.Int64).clip(lower_bound=1).alias("n_bytes"),
    ).sort("item_id")


def build_partition_assets(cfg: SourcesConfig) -> list[dg.AssetsDefinition]:
    @dg.asset(
        name="shard_plan",
        group_name="partition",
        deps=[dg.AssetKey(c) for c in CORPORA],
        automation_condition=EAGER,
        kinds={"polars", "parquet"},
    )
    def shard_plan(
        context: dg.AssetExecutionContext, corpusmill: CorpusmillResource, compute: ComputeResource
    ):
        """Shards of the training job's corpus, sized and assigned for the pools that train on it."""
        from corpusmill import compute as cc
        from corpusmill.shards import plan_shards, write_shards

        catalog = cc.load_catalog(compute.catalog or None)
        job = cc.load_job(compute.job or None)
        if job.corpus not in CORPORA:
            raise dg.Failure(f"training job corpus {job.corpus!r} is not one of {list(CORPORA)}")
        path = corpusmill.lake / job.corpus
        version = job.version if job.version is not None else lake.open_table(path).version()
        corpus = lake.read(path, version=version)
        id_col = CORPORA[job.corpus][1]
        plan = plan_shards(corpus_items(corpus, id_col), catalog, job)
        plan = write_shards(plan, corpus, corpusmill.home_dir.shards, id_column=id_col)
        shards = plan.shards.with_columns(
            pl.lit(plan.plan_id).alias("plan_id"),
            pl.lit(job.corpus).alias("corpus"),
            pl.lit(version, pl.Int64).alias("corpus_version"),
        )
        files = shards.select(
            "plan_id", "shard_id", "pool",
            pl.concat_str(pl.lit(str(corpusmill.home_dir.shards) + "/"), pl.col("file")).alias("path"),
            "samples", "bytes",
        )  # fmt: skip
        lake.overwrite(corpusmill.lake / "shard_plan", shards)
        lake.overwrite(corpusmill.lake / "shards", files)
        lake.overwrite(corpusmill.lake / "shard_pools", plan.pools.with_columns(
            pl.lit(plan.plan_id).alias("plan_id")))  # fmt: skip
        corpusmill.refresh_catalog()
        s = plan.summary
        return dg.MaterializeResult(
            metadata={
                "plan_id": plan.plan_id,
                "corpus": f"{job.corpus} v{version}",
                "dagster/row_count": shards.height,
                "makespan_hours": float(s.get("makespan_hours", 0.0)),
                "total_cost_usd": float(s.get("total_cost_usd", 0.0)),
                "pools": frame_md(plan.pools),
            }
        )

    return [shard_plan]
