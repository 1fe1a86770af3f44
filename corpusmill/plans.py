"""Shard plans in the lake: plan a corpus version for a compute catalog and a job, write the
shard files, and publish the plan's tables (``shard_plan``, ``shards``, ``shard_pools``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from corpusmill import lake
from corpusmill.corpora import corpus
from corpusmill.layout import PLAN_TABLES, Lake

if TYPE_CHECKING:
    from corpusmill.compute import Catalog, TrainingJob
    from corpusmill.shards import ShardPlan


@dataclass(frozen=True)
class PublishedPlan:
    plan: ShardPlan
    corpus: str
    corpus_version: int
    shards: pl.DataFrame  # the shard_plan table as written


def plan_corpus(
    lake_root: Path, shards_dir: Path, catalog: Catalog, job: TrainingJob
) -> PublishedPlan:
    """Plan the job's corpus version (latest when the job names none) and publish the plan.

    Raises
    ------
    corpusmill.corpus.CorpusError
        The job names an unknown corpus.
    FileNotFoundError
        The corpus has not been built.
    """
    from corpusmill.shards import plan_shards, write_shards

    spec = corpus(job.corpus)
    at = Lake(lake_root)
    path = at.table(spec.name)
    version = job.version if job.version is not None else lake.open_table(path).version()
    frame = lake.read(path, version=version)
    plan = plan_shards(spec.items(frame), catalog, job)
    plan = write_shards(plan, frame, shards_dir, id_column=spec.id_column)
    shards = plan.shards.with_columns(
        pl.lit(plan.plan_id).alias("plan_id"),
        pl.lit(spec.name).alias("corpus"),
        pl.lit(version, pl.Int64).alias("corpus_version"),
    )
    files = shards.select(
        "plan_id", "shard_id", "pool",
        pl.concat_str(pl.lit(str(shards_dir) + "/"), pl.col("file")).alias("path"),
        "samples", "bytes",
    )  # fmt: skip
    pools = plan.pools.with_columns(pl.lit(plan.plan_id).alias("plan_id"))
    for name, table in zip(PLAN_TABLES, (shards, files, pools), strict=True):
        lake.overwrite(at.table(name), table)
    return PublishedPlan(plan, spec.name, version, shards)
