"""Shard plans in the lake: plan a corpus version for a compute catalog and a job, write the
shard files, publish the plan's tables (``shard_plan``, ``shards``, ``shard_pools``: every job's
latest plan, one ``job_name`` each) and keep every plan in ``shard_plans``.

Several jobs sharing the pools are allocated together (:func:`joint_allocation`: one LP over the
jobs whose corpus is built, cached by its inputs), and each job's plan takes its part.

A job's next plan starts from its previous one (:func:`latest_plan`), so items stay on the pool
they were on while that pool keeps room; the plan summary's ``replan`` entry says how much moved
and the least that had to.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from corpusmill import lake, storage
from corpusmill.corpora import corpus
from corpusmill.layout import PLAN_HISTORY_TABLE, PLAN_TABLES, Lake
from corpusmill.locks import file_lock
from corpusmill.shards.cut import DEFAULT_STRATIFY_BY, DEFAULT_TOLERANCE
from corpusmill.shards.formats import DEFAULT_FORMATS

if TYPE_CHECKING:
    from corpusmill.compute import Catalog, TrainingJob
    from corpusmill.shards import ShardPlan
    from corpusmill.shards.lp import JobAllocation

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
    allocation: JobAllocation | None = None,
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
    allocation
        The job's part of a joint allocation (:func:`joint_allocation`): its pool shares come
        from there instead of its own objective; ``summary["allocation"]`` reports the pools and
        device-hours it got.
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
            "shares": dict(sorted(allocation.shares.items())) if allocation else None,
        }
    )  # fmt: skip
    prev = _previous(lake_root, name, inputs_hash) if previous == "latest" else previous
    plan = plan_shards(
        items, catalog, job, previous=prev, shares=allocation.shares if allocation else None
    )
    if allocation is not None:
        plan.summary["allocation"] = {
            "shares": dict(sorted(allocation.shares.items())),
            "device_hours": dict(sorted(allocation.device_hours.items())),
            "cost_usd": allocation.cost_usd,
            "shared_with": list(allocation.shared_with),
        }
    plan = stratify_shards(
        plan, frame, items, id_column=spec.id_column, stratify_by=stratify_by, tolerance=tolerance
    )
    plan.summary = {**plan.summary, "replan": moved(prev, plan, items)}
    plan = write_shards(plan, frame, shards_dir, id_column=spec.id_column, formats=formats)
    shards = plan.shards.with_columns(
        pl.lit(name).alias("job_name"),
        pl.lit(plan.plan_id).alias("plan_id"),
        pl.lit(spec.name).alias("corpus"),
        pl.lit(version, pl.Int64).alias("corpus_version"),
    )
    files = shards.select(
        "job_name", "plan_id", "shard_id", "pool",
        pl.concat_str(pl.lit(str(shards_dir) + "/"), pl.col("file")).alias("path"),
        "samples", "bytes",
    )  # fmt: skip
    pools = plan.pools.with_columns(
        pl.lit(name).alias("job_name"), pl.lit(plan.plan_id).alias("plan_id")
    )
    with _plans_lock(lake_root):
        for table_name, table in zip(PLAN_TABLES, (shards, files, pools), strict=True):
            _publish(at.table(table_name), name, table)
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


def _publish(path: Path, job_name: str, rows: pl.DataFrame) -> None:
    """Replace ``job_name``'s rows of a plan table with ``rows``, keeping the other jobs' rows.

    Written as a whole-table overwrite, so a rerun with the same plans commits nothing; a table
    from before plans had a ``job_name`` is replaced.
    """
    if lake.exists(path):
        have = lake.read(path)
        if "job_name" in have.columns:
            others = have.filter(pl.col("job_name") != job_name)
            if others.height:
                rows = pl.concat([others, rows], how="diagonal_relaxed")
    lake.overwrite(path, rows.sort("job_name", maintain_order=True))


@contextmanager
def _plans_lock(lake_root: Path) -> Iterator[None]:
    """Plans of several jobs may publish at once (one Dagster run per job): one at a time.

    The lock is a file: in a local lake, ``<lake>/.plans.lock``; for a lake on object storage, a
    file in the machine's temp folder named by the lake, so the runs of one deployment take
    turns (runs on several machines publishing plans to one bucket at once are not serialised).
    """
    if storage.is_remote(lake_root):
        name = lake.json_hash(str(lake_root))[:16]
        path = Path(tempfile.gettempdir()) / f"corpusmill-plans-{name}.lock"
    else:
        path = Path(lake_root) / ".plans.lock"
    with file_lock(path):
        yield


@dataclass(frozen=True)
class JointAllocation:
    """One LP over the jobs whose corpus is built: each job's part, the jobs left out and why,
    and the hash of the inputs (catalog, jobs, corpus versions) it was computed from."""

    parts: dict[str, JobAllocation]
    skipped: dict[str, str] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    inputs_hash: str = ""


#: Joint allocations computed in this process, by inputs hash (the LP reads every corpus).
_ALLOCATIONS: dict[str, JointAllocation] = {}


def corpus_version(lake_root: Path, job: TrainingJob) -> int | None:
    """The corpus version the job plans (its pinned one, else the latest); None: not built."""
    path = Lake(lake_root).table(corpus(job.corpus).name)
    if not lake.exists(path):
        return None
    return job.version if job.version is not None else lake.open_table(path).version()


def joint_allocation(
    lake_root: Path,
    catalog: Catalog,
    jobs: list[TrainingJob],
    *,
    cache_dir: Path | None = None,
) -> JointAllocation:
    """Allocate the pools over ``jobs`` (:func:`~corpusmill.shards.lp.allocate`): jobs that compete
    for pools share one LP (every deadline and budget kept, total cost minimised); a job that
    competes with none keeps its own objective.

    Jobs whose corpus is not built, or whose corpus version has no rows, are left out
    (``skipped``, with the reason). The result depends
    only on the catalog, the jobs and the corpus versions; it is cached by their hash in this
    process and, with ``cache_dir`` (a folder or an object-storage prefix), as
    ``<cache_dir>/<hash>.json``, so each job's plan (one
    Dagster run per job) uses the same allocation without solving again.

    Raises
    ------
    corpusmill.shards.lp.PlanInfeasible
        The jobs cannot all meet their limits on the shared pools.
    """
    from corpusmill.shards.lp import JobAllocation, allocate

    versions: dict[str, int] = {}
    skipped: dict[str, str] = {}
    for j in jobs:
        name = j.name or j.corpus
        v = corpus_version(lake_root, j)
        if v is None:
            skipped[name] = f"skipped: {j.corpus} is not built (its inputs have no rows)"
        else:
            versions[name] = v
    key = lake.json_hash(
        {"catalog": _catalog_hash(catalog), "versions": versions,
         "jobs": [j.model_dump(mode="json") for j in jobs]}
    )[:16]  # fmt: skip
    if key in _ALLOCATIONS:
        return _ALLOCATIONS[key]
    cached = storage.join(cache_dir, f"{key}.json") if cache_dir is not None else None
    if cached is not None and storage.is_file(cached):
        raw = json.loads(storage.read_text(cached))
        parts = {n: JobAllocation(**{**a, "shared_with": tuple(a["shared_with"])})
                 for n, a in raw["parts"].items()}  # fmt: skip
        skipped.update(raw["empty"])
    else:
        work: dict[str, tuple[float, float]] = {}
        empty: dict[str, str] = {}
        for j in jobs:
            name = j.name or j.corpus
            if name not in versions:
                continue
            spec = corpus(j.corpus)
            frame = lake.read(Lake(lake_root).table(spec.name), version=versions[name])
            if frame.is_empty():  # published, but every row was left out
                empty[name] = f"skipped: {spec.name} v{versions[name]} has no rows"
                continue
            items = spec.items(frame)
            tokens = float(items["n_tokens"].sum()) * j.epochs
            work[name] = (tokens, float(items["n_bytes"].sum()))
        built = [j for j in jobs if (j.name or j.corpus) in work]
        parts = allocate(built, catalog, work) if built else {}
        skipped.update(empty)
        if cached is not None:
            body = {"inputs_hash": key, "versions": versions, "empty": empty,
                    "parts": {n: vars(a) for n, a in parts.items()}}  # fmt: skip
            storage.write_text(cached, json.dumps(body, sort_keys=True, indent=1))
    out = JointAllocation(parts, skipped, versions, key)
    _ALLOCATIONS[key] = out
    return out


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


@dataclass
class DryPlan:
    """A job's plan computed but not published (``corpusmill plan``): the plan, or why not."""

    job: TrainingJob
    plan: ShardPlan | None = None
    corpus_version: int | None = None
    skipped: str | None = None
    replan: dict[str, Any] | None = None


def dry_plans(
    lake_root: Path,
    catalog: Catalog,
    jobs: list[TrainingJob],
    *,
    only: str | None = None,
    previous: str | Path | None = None,
    history_root: Path | None = None,
) -> list[DryPlan]:
    """Each job's plan as the ``shard_plan`` asset would make it (the joint allocation over every
    job, then the job's part), without writing anything.

    Parameters
    ----------
    only
        Just this job (the allocation still spans every job).
    previous
        Re-plan from this plan: a plan id listed in ``shard_plans`` of ``history_root``'s lake (the
        lake itself by default) or a plan folder holding ``plan.json``; each plan's ``replan``
        then says what moved and the least that had to.

    Raises
    ------
    corpusmill.compute.ComputeConfigError
        ``only`` names no job, or the jobs cannot share the pools (``PlanInfeasible``).
    FileNotFoundError
        ``previous`` is neither a known plan id nor a plan folder.
    """
    from corpusmill.compute import ComputeConfigError
    from corpusmill.shards import plan_shards

    names = [j.name or j.corpus for j in jobs]
    if only is not None and only not in names:
        msg = f"no training job {only!r}; jobs: {', '.join(names)}"
        raise ComputeConfigError(msg)
    prev = resolve_plan(history_root or lake_root, previous) if previous is not None else None
    joint = joint_allocation(lake_root, catalog, jobs)
    out = []
    for j, name in zip(jobs, names, strict=True):
        if only is not None and name != only:
            continue
        if name in joint.skipped:
            out.append(DryPlan(j, skipped=joint.skipped[name]))
            continue
        spec = corpus(j.corpus)
        version = joint.versions[name]
        items = spec.items(lake.read(Lake(lake_root).table(spec.name), version=version))
        # a previous plan is another plan of this job: of the same corpus
        mine = prev if prev is not None and prev.summary.get("corpus") == j.corpus else None
        part = joint.parts.get(name)
        plan = plan_shards(items, catalog, j, previous=mine, shares=part.shares if part else None)
        if part is not None:
            plan.summary["allocation"] = {"shares": part.shares, "cost_usd": part.cost_usd,
                                          "device_hours": part.device_hours,
                                          "shared_with": list(part.shared_with)}  # fmt: skip
        out.append(DryPlan(j, plan, version, replan=moved(mine, plan, items) if mine else None))
    return out


def resolve_plan(lake_root: Path, ref: str | Path) -> ShardPlan:
    """A plan by id (listed in ``shard_plans``) or by folder (holding ``plan.json``).

    Raises
    ------
    FileNotFoundError
        Neither; the message lists what was tried.
    """
    from corpusmill.shards import read_plan

    folder = storage.normalize(str(ref))
    if storage.is_file(storage.join(folder, "plan.json")):
        return read_plan(folder)
    history = plan_history(lake_root).filter(pl.col("plan_id") == str(ref))
    if history.height:
        return _read(history.row(-1, named=True))
    msg = (
        f"previous plan {str(ref)!r} is neither a folder with plan.json nor a plan id in "
        f"shard_plans of {lake_root} (see `corpusmill query \"select * from shard_plans\"`)"
    )
    raise FileNotFoundError(msg)
