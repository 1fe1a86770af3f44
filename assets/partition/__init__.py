"""Partition: one shard plan per training job (a Dagster partition each), and the shard files.

The partitions are the job names of the training jobs file, read when the definitions are built
(like the sources file). The pools are shared: the jobs whose corpus is built are allocated in one
LP (``corpusmill.plans.joint_allocation``, cached by its inputs) and each partition plans its job
on its part. The ``corpus_version_sensor`` (pipelines/sensors.py) requests the partitions whose
corpus got a new version.
"""


import dagster as dg

from assets.metadata import column_schema, frame_md
from assets.resources import ComputeResource, CorpusmillResource
from assets.selection import SHARD_PLAN_KEY as SHARD_PLAN
from corpusmill import layout, storage
from corpusmill.compute import TrainingJob
from corpusmill.config import SourcesConfig
from corpusmill.corpora import CORPORA


def build_partition_assets(
    cfg: SourcesConfig, jobs: list[TrainingJob]
) -> list[dg.AssetsDefinition]:
    fed = set(cfg.ingested_sources())
    corpora = [name for name, spec in CORPORA.items() if fed.intersection(spec.inputs)]
    if not corpora or not jobs:
        return []
    trained = sorted({j.corpus for j in jobs} & set(corpora))

    @dg.asset(
        name=SHARD_PLAN.path[-1],
        group_name="partition",
        deps=[dg.AssetKey(c) for c in trained],
        partitions_def=dg.StaticPartitionsDefinition([j.name or j.corpus for j in jobs]),
        kinds={"polars", "parquet"},
    )
    def shard_plan(
        context: dg.AssetExecutionContext, corpusmill: CorpusmillResource, compute: ComputeResource
    ):
        """Shards of one training job's corpus (the partition is the job), sized and assigned for
        the pools it got in the joint allocation of every job over the shared pools."""
        from corpusmill.plans import joint_allocation, plan_corpus
        from corpusmill.shards.report import load_chart, pool_table

        catalog, all_jobs = compute.load(context.partition_key)
        job = next(j for j in all_jobs if (j.name or j.corpus) == context.partition_key)
        shards_dir = corpusmill.home_dir.shards
        joint = joint_allocation(
            corpusmill.lake, catalog, all_jobs, cache_dir=storage.join(shards_dir, "_allocations")
        )
        name = job.name or job.corpus
        if name in joint.skipped:
            why = joint.skipped[name]
            context.log.warning(f"shard_plan[{name}]: {why}")
            return dg.MaterializeResult(metadata={"skipped": why, "dagster/row_count": 0})
        part = joint.parts.get(name)
        out = plan_corpus(
            corpusmill.lake, shards_dir, catalog, job, job_name=name,
            allocation=part,
        )  # fmt: skip
        corpusmill.refresh_catalog([*layout.PLAN_TABLES, layout.PLAN_HISTORY_TABLE])
        s = out.plan.summary
        table = pool_table(out.plan)
        return dg.MaterializeResult(
            metadata={
                "job": name,
                "plan_id": out.plan.plan_id,
                "corpus": f"{out.corpus} v{out.corpus_version}",
                "dagster/row_count": out.shards.height,
                "dagster/column_schema": column_schema(out.shards.schema),
                "makespan_hours": float(s.get("makespan_hours", 0.0)),
                "total_cost_usd": float(s.get("total_cost_usd", 0.0)),
                "device_hours": {k: round(v, 3) for k, v in
                                 s.get("allocation", {}).get("device_hours", {}).items()},
                "allocated_with": ", ".join(part.shared_with) if part and part.shared_with
                else "(no other job: planned alone, its own objective)",
                "moved_fraction": float(s["replan"]["moved_fraction"]),
                "pools": frame_md(table),
                "load": dg.MetadataValue.md(load_chart(table)),
            }
        )

    return [shard_plan]
