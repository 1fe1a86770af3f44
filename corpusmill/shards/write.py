"""Shard files: one file per shard and format; ``plan.json`` and ``assignment.parquet`` beside
them."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from corpusmill import storage
from corpusmill.shards.formats import (
    DEFAULT_FORMATS,
    FORMATS,
    check_formats,
    jsonl_bytes,
    parquet_bytes,
    webdataset_bytes,
)
from corpusmill.shards.model import POOLS_SCHEMA, SHARDS_SCHEMA, ShardPlan
from corpusmill.storage import Where


def write_shards(
    plan: ShardPlan,
    corpus: pl.DataFrame,
    out_dir: str | Path,
    *,
    id_column: str,
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    image_dir: str | Path | None = None,
) -> ShardPlan:
    """Write each shard in each of ``formats`` to ``out_dir/<plan_id>/shard-NNNNN.<suffix>``.

    Parameters
    ----------
    plan
        The plan (from :func:`~corpusmill.shards.plan_shards`).
    corpus
        The corpus rows; exactly one row per planned item.
    out_dir
        The shards folder; the plan's files go to ``out_dir/<plan_id>/``.
    id_column
        The corpus's id column (the plan's ``item_id``).
    formats
        Any of ``"parquet"`` (``.parquet``, zstd), ``"jsonl"`` (``.jsonl``, one JSON object per
        row) and ``"webdataset"`` (``.tar``, see :mod:`corpusmill.shards.formats`). Default
        Parquet and WebDataset.
    image_dir
        Where relative ``image_path`` values are resolved (WebDataset only).

    Each file holds the corpus rows of its shard, sorted by ``id_column``. A file whose bytes
    would be identical to the existing one is left alone; others are written to a temporary name
    and renamed into place, so a crash never leaves half a shard. ``plan.json`` (shards, pools,
    summary, and ``readers``: per pool, the shards and per-step batch share of every rank) and
    ``assignment.parquet`` (item -> shard) are written next to the shards.

    Returns
    -------
    ShardPlan
        The plan with ``file`` (relative to ``out_dir``; the Parquet file when written, else the
        first format's) set on every shard; ``summary["write"]`` counts the files written and
        skipped, ``summary["formats"]`` lists the formats.
    """
    formats = check_formats(formats)
    target = storage.join(storage.normalize(out_dir), plan.plan_id)
    storage.make_dirs(target)
    if id_column not in corpus.columns:
        msg = f"corpus has no column {id_column!r}; columns: {', '.join(corpus.columns)}"
        raise ValueError(msg)
    assignment = plan.assignment.select(
        pl.col("item_id").cast(corpus.schema[id_column]).alias(id_column), "shard_id"
    )
    rows = corpus.join(assignment, on=id_column, how="inner")
    if rows.height != assignment.height:
        have = rows.select(id_column).unique()
        lost = assignment.join(have, on=id_column, how="anti")[id_column].head(3).to_list()
        msg = (
            f"corpus rows do not match the plan: {assignment.height} planned items, "
            f"{rows.height} matching corpus rows (missing or duplicated ids, e.g. {lost})"
        )
        raise ValueError(msg)
    parts = rows.partition_by("shard_id", as_dict=True, include_key=False)
    base = Path(image_dir) if image_dir is not None else None
    written = skipped = 0
    files: dict[str, list[str]] = {f: [] for f in formats}
    for shard_id in plan.shards["shard_id"].to_list():
        part = parts[(shard_id,)].sort(id_column)
        for fmt in formats:
            name = f"shard-{shard_id:05d}{FORMATS[fmt]}"
            if fmt == "parquet":
                data = parquet_bytes(part)
            elif fmt == "jsonl":
                data = jsonl_bytes(part)
            else:
                data = webdataset_bytes(part, shard_id=shard_id, id_column=id_column, base_dir=base)
            if _put(storage.join(target, name), data):
                written += 1
            else:
                skipped += 1
            files[fmt].append(f"{plan.plan_id}/{name}")
    shards = plan.shards.with_columns(file=pl.Series(files[formats[0]], dtype=pl.String))
    done = replace(plan, shards=shards)
    doc = {
        "plan_id": plan.plan_id,
        "summary": {**plan.summary, "formats": list(formats)},
        "pools": plan.pools.to_dicts(),
        "shards": shards.to_dicts(),
        "readers": readers(plan, files),
    }
    text = json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"
    for ok in (
        _put(storage.join(target, "plan.json"), text.encode()),
        _put(storage.join(target, "assignment.parquet"), parquet_bytes(plan.assignment)),
    ):
        written, skipped = written + ok, skipped + (not ok)
    done.summary = {
        **plan.summary,
        "formats": list(formats),
        "write": {"written": written, "skipped": skipped},
    }
    return done


def readers(plan: ShardPlan, files: dict[str, list[str]]) -> dict[str, Any]:
    """What every rank of every pool reads: whole shards (the plan's ``rank``), their files per
    format (relative to the shards folder), tokens, samples, and its per-step batch share.

    The batch shares are samples per optimizer step; they are proportional to each rank's samples
    and sum to the job's global batch over all ranks of all pools (largest remainder rounding),
    so every rank runs out of samples at the same step.
    """
    global_batch = round(float(plan.pools["batch_share"].sum()))
    by_id = {sid: i for i, sid in enumerate(plan.shards["shard_id"].to_list())}
    ranks: list[dict[str, Any]] = []
    for pool in plan.pools.filter(pl.col("shards") > 0).iter_rows(named=True):
        mine = plan.shards.filter(pl.col("pool") == pool["pool"])
        for rank in range(pool["devices"]):
            got = mine.filter(pl.col("rank") == rank).sort("shard_id")
            ids = got["shard_id"].to_list()
            ranks.append(
                {
                    "pool": pool["pool"],
                    "rank": rank,
                    "shards": ids,
                    "files": {f: [paths[by_id[s]] for s in ids] for f, paths in files.items()},
                    "samples": int(got["samples"].sum()),
                    "tokens": int(got["tokens"].sum()),
                }
            )
    total = sum(r["samples"] for r in ranks)
    quotas = [global_batch * r["samples"] / total if total else 0.0 for r in ranks]
    shares = [int(q) for q in quotas]
    order = sorted(range(len(ranks)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in order[: global_batch - sum(shares)]:
        shares[i] += 1
    for r, b in zip(ranks, shares, strict=True):
        r["batch_per_step"] = b
    out: dict[str, Any] = {"global_batch": global_batch, "pools": {}}
    for r in ranks:
        pool = out["pools"].setdefault(r["pool"], {"ranks": [], "batch_per_step": 0})
        pool["ranks"].append({k: v for k, v in r.items() if k != "pool"})
        pool["batch_per_step"] += r["batch_per_step"]
    for pool in out["pools"].values():
        tokens = [r["tokens"] for r in pool["ranks"]]
        pool["token_imbalance"] = max(tokens) / min(tokens) if min(tokens) > 0 else None
    return out


def read_plan(plan_dir: str | Path) -> ShardPlan:
    """Read a plan written by :func:`write_shards` (e.g. as ``previous`` for a re-plan)."""
    plan_dir = storage.normalize(plan_dir)
    doc = json.loads(storage.read_text(storage.join(plan_dir, "plan.json")))
    return ShardPlan(
        plan_id=doc["plan_id"],
        shards=pl.DataFrame(doc["shards"], schema=SHARDS_SCHEMA),
        pools=pl.DataFrame(doc["pools"], schema=POOLS_SCHEMA),
        summary=doc["summary"],
        assignment=pl.read_parquet(
            io.BytesIO(storage.read_bytes(storage.join(plan_dir, "assignment.parquet")))
        ),
    )


def _put(path: Where, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless the file already holds exactly it."""
    same = storage.size(path) == len(data)  # the bytes are compared only when the size matches
    if same and hashlib.sha256(storage.read_bytes(path)).digest() == hashlib.sha256(data).digest():
        return False
    storage.write_bytes(path, data, crash="shard.replace.before")
    return True
