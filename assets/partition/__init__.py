"""Partition: the shard plan for a compute catalog and a training job, and the shard files."""


import dagster as dg

from assets.automation import EAGER
from assets.metadata import column_schema, frame_md
from assets.resources import ComputeResource, CorpusmillResource
from corpusmill import lake, layout
from corpusmill.config import SourcesConfig
from corpusmill.corpora import CORPORA


def build_partition_assets(cfg: SourcesConfig) -> list[dg.AssetsDefinition]:
    fed = set(cfg.ingested_sources())
    corpora = [name for name, spec in CORPORA.items() if fed.intersection(spec.inputs)]
    if not corpora:
        return []

    @dg.asset(
        name="shard_plan",
        group_name="partition",
        deps=[dg.AssetKey(c) for c in corpora],
        automation_condition=EAGER,
        kinds={"polars", "parquet"},
    )
    def shard_plan(
        context: dg.AssetExecutionContext, corpusmill: CorpusmillResource, compute: ComputeResource
    ):
        """Shards of the training job's corpus, sized and assigned for the pools that train on it."""
        from corpusmill import compute as cc
        from corpusmill.plans import plan_corpus

        catalog = cc.load_catalog(compute.catalog or None)
        job = cc.load_job(compute.job or None)
        if not lake.exists(corpusmill.layout.table(job.corpus)):
            why = f"skipped: {job.corpus} is not built (its inputs have no rows)"
            context.log.warning(f"shard_plan: {why}")
            return dg.MaterializeResult(metadata={"skipped": why, "dagster/row_count": 0})
        out = plan_corpus(corpusmill.lake, corpusmill.home_dir.shards, catalog, job)
        corpusmill.refresh_catalog([*layout.PLAN_TABLES, layout.PLAN_HISTORY_TABLE])
        s = out.plan.summary
        return dg.MaterializeResult(
            metadata={
                "plan_id": out.plan.plan_id,
                "corpus": f"{out.corpus} v{out.corpus_version}",
                "dagster/row_count": out.shards.height,
                "dagster/column_schema": column_schema(out.shards.schema),
                "makespan_hours": float(s.get("makespan_hours", 0.0)),
                "total_cost_usd": float(s.get("total_cost_usd", 0.0)),
                "pools": frame_md(out.plan.pools),
            }
        )

    return [shard_plan]
