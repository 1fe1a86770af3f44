"""Shard plans in the lake: plan a corpus version for a compute catalog and a job, write the
shard files, publish the plan's tables (``shard_plan``, ``shards``, ``shard_pools``) and keep
every plan in ``shard_plans``.

A job's next plan starts from its previous one (:func:`latest_plan`), so items stay on the pool
they were on while that pool keeps room; the plan summary's ``replan`` entry says how much moved
and the least that had to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from corpusmill import lake, storage
from corpusmill.corpora import corpus
from corpusmill.layout import PLAN_HISTORY_TABLE, PLAN_TABLES, Lake
from corpusmill.shards.cut import DEFAULT_STRATIFY_BY, DEFAULT_TOLERANCE
from corpusmill.shards.formats import DEFAULT_FORMATS

if TYPE_CHECKING:
    from corpusmill.compute import Catalog, TrainingJob
    from corpusmill.shards import ShardPlan

#: One row per plan ever made for a job (``shard_plans``).
SHARD_PLANS_SCHEMA = pl.Schema(
    {
        "plan_id": pl.String(),
        "job_name": pl.String(),
        "corpus": pl.String(),
        "corpus_version": pl.Int64(),
        "catalog_hash": pl.String(),
        "inputs_hash": pl.String(),
        "previous_plan_id": pl.String(),
        "created_utc": pl.Datetime("us", "UTC"),
        "plan_dir": pl.String(),
        "n_shards": pl.Int64(),
        "moved_fraction": pl.Float64(),
        "min_moved_fraction": pl.Float64(),
    }
)


@dataclass(frozen=True)
class PublishedPlan:
    plan: ShardPlan
    corpus: str
    corpus_version: int
    shards: pl.DataFrame  # the shard_plan table as written


def plan_corpus(
    lake_root: Path,
    shards_dir: Path,
    catalog: Catalog,
    job: TrainingJob,
    *,
    job_name: str | None = None,
    previous: ShardPlan | Literal["latest"] | None = "latest",
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    stratify_by: tuple[str, ...] = DEFAULT_STRATIFY_BY,
    tolerance: float = DEFAULT_TOLERANCE,
) -> PublishedPlan:
    """Plan the job's corpus version (latest when the job names none) and publish the plan.

    Parameters
    ----------
    lake_root, shards_dir
        The lake, and where the shard files go (``<shards_dir>/<plan_id>/``).
    catalog, job
        The pools and the training job.
    job_name
        Names the job in ``shard_plans`` (default: the job's corpus); plans of one name form
        its history.
    previous
        ``"latest"`` (default): the job's latest plan in ``shard_plans``, so a re-plan after a
        change of pools moves only what must move; ``None``: plan from scratch; or a plan.
        Running again with unchanged inputs reproduces the latest plan (same ``plan_id``).
    formats
        Shard file formats (see :func:`~corpusmill.shards.write_shards`).
    stratify_by, tolerance
        Shards hold one split and keep its mix of these columns (see
        :func:`~corpusmill.shards.stratify_shards`); absent columns are skipped.

    Raises
    ------
    corpusmill.corpus.CorpusError
        The job names an unknown corpus.
    FileNotFoundError
        The corpus has not been built, or the previous plan's files are gone.
    """
    from corpusmill.shards import plan_shards, stratify_shards, write_shards

    spec = corpus(job.corpus)
    at = Lake(lake_root)
    name = job_name or job.corpus
    path = at.table(spec.name)
    version = job.version if job.version is not None else lake.open_table(path).version()
    frame = lake.read(path, version=version)
    items = spec.items(frame)
    catalog_hash = _catalog_hash(catalog)
    inputs_hash = lake.json_hash(
        {
            "corpus": spec.name, "version": version, "catalog": catalog_hash,
            "job": job.model_dump(mode="json"), "formats": list(formats),
            "stratify_by": list(stratify_by), "tolerance": tolerance,
        }
    )  # fmt: skip
    prev = _previous(lake_root, name, inputs_hash) if previous == "latest" else previous
    plan = plan_shards(items, catalog, job, previous=prev)
    plan = stratify_shards(
        plan, frame, items, id_column=spec.id_column, stratify_by=stratify_by, tolerance=tolerance
    )
    plan.summary = {**plan.summary, "replan": moved(prev, plan, items)}
    plan = write_shards(plan, frame, shards_dir, id_column=spec.id_column, formats=formats)
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
    for table_name, table in zip(PLAN_TABLES, (shards, files, pools), strict=True):
        lake.overwrite(at.table(table_name), table)
    replan = plan.summary["replan"]
    _record(
        lake_root,
        {
            "plan_id": plan.plan_id,
            "job_name": name,
            "corpus": spec.name,
            "corpus_version": version,
            "catalog_hash": catalog_hash,
            "inputs_hash": inputs_hash,
            "previous_plan_id": prev.plan_id if prev is not None else None,
            "created_utc": datetime.now(UTC),
            "plan_dir": str(storage.join(shards_dir, plan.plan_id)),
            "n_shards": plan.shards.height,
            "moved_fraction": replan["moved_fraction"],
            "min_moved_fraction": replan["min_moved_fraction"],
        },
    )
    return PublishedPlan(plan, spec.name, version, shards)


def plan_history(lake_root: Path, job_name: str | None = None) -> pl.DataFrame:
    """Every plan recorded in ``shard_plans`` (of one job when named), oldest first."""
    df = lake.read(Lake(lake_root).table(PLAN_HISTORY_TABLE), schema=SHARD_PLANS_SCHEMA)
    if job_name is not None:
        df = df.filter(pl.col("job_name") == job_name)
    return df.sort("created_utc", "plan_id")


def latest_plan(lake_root: Path, job_name: str) -> ShardPlan | None:
    """The job's most recent plan, read back from its ``plan.json`` (None: the job has none).

    Raises
    ------
    FileNotFoundError
        ``shard_plans`` lists a plan whose folder is gone.
    """
    history = plan_history(lake_root, job_name)
    if history.is_empty():
        return None
    return _read(history.row(-1, named=True))


def moved(previous: ShardPlan | None, plan: ShardPlan, items: pl.DataFrame) -> dict[str, Any]:
    """How much of the previous plan moved pools, and the least that had to.

    Counted in tokens over the items of both plans: ``moved_tokens`` changed pool;
    ``min_moved_tokens`` = the sum over previous pools of what they held beyond their new share
    (all of it for a pool that is gone): no plan with these shares moves less. Fractions are of
    the tokens of the common items.
    """
    if previous is None:
        return {"previous_plan_id": None, "moved_tokens": 0, "min_moved_tokens": 0,
                "moved_fraction": 0.0, "min_moved_fraction": 0.0}  # fmt: skip
    sizes = items.select(pl.col("item_id").cast(pl.String), pl.col("n_tokens").cast(pl.Int64))
    both = (
        previous.assignment.select("item_id", pl.col("pool").alias("was"))
        .join(plan.assignment.select("item_id", "pool"), on="item_id")
        .join(sizes, on="item_id")
    )
    total = int(both["n_tokens"].sum())
    moved_tokens = int(both.filter(pl.col("was") != pl.col("pool"))["n_tokens"].sum())
    held = dict(both.group_by("was").agg(pl.col("n_tokens").sum()).iter_rows())
    share = dict(plan.pools.select("pool", "tokens").iter_rows())
    least = int(sum(max(t - share.get(p, 0), 0) for p, t in held.items()))
    return {
        "previous_plan_id": previous.plan_id,
        "moved_tokens": moved_tokens,
        "min_moved_tokens": least,
        "moved_fraction": moved_tokens / total if total else 0.0,
        "min_moved_fraction": least / total if total else 0.0,
    }


def _previous(lake_root: Path, job_name: str, inputs_hash: str) -> ShardPlan | None:
    """The plan a new plan of ``job_name`` starts from: its latest plan, unless that plan was
    made from the same inputs; then that plan's own predecessor, so the plan is reproduced."""
    history = plan_history(lake_root, job_name)
    if history.is_empty():
        return None
    last = history.row(-1, named=True)
    if last["inputs_hash"] != inputs_hash:
        return _read(last)
    if last["previous_plan_id"] is None:
        return None
    before = history.filter(pl.col("plan_id") == last["previous_plan_id"])
    return _read(before.row(-1, named=True)) if before.height else None


def _read(row: dict[str, Any]) -> ShardPlan:
    from corpusmill.shards import read_plan

    plan_dir = storage.normalize(row["plan_dir"])
    if not storage.is_file(storage.join(plan_dir, "plan.json")):
        msg = (
            f"shard_plans lists plan {row['plan_id']} of job {row['job_name']!r} at {plan_dir}, "
            "but its plan.json is gone; restore the folder or plan with previous=None"
        )
        raise FileNotFoundError(msg)
    return read_plan(plan_dir)


def _record(lake_root: Path, row: dict[str, Any]) -> None:
    """Append the plan to ``shard_plans`` unless the job already has it (idempotent: one row
    per job and plan_id; two jobs planned alike share a plan_id, each with its own row)."""
    table = Lake(lake_root).table(PLAN_HISTORY_TABLE)
    have = lake.read(table, schema=SHARD_PLANS_SCHEMA)
    if have.filter(
        (pl.col("plan_id") == row["plan_id"]) & (pl.col("job_name") == row["job_name"])
    ).height:
        return
    lake.replace_rows(
        table,
        pl.DataFrame([row], schema=SHARD_PLANS_SCHEMA),
        where={"plan_id": row["plan_id"], "job_name": row["job_name"]},
        schema=SHARD_PLANS_SCHEMA,
    )


def _catalog_hash(catalog: Catalog) -> str:
    cat = catalog.model_dump(mode="json")
    cat["pools"] = sorted(cat["pools"], key=lambda p: p["name"])
    return lake.json_hash(cat)[:16]
