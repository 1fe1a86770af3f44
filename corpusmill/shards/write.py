"""Shard files: one Parquet file per shard, ``plan.json`` and ``assignment.parquet`` beside them."""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import replace
from pathlib import Path

import polars as pl

from corpusmill.faults import crash_point
from corpusmill.shards.model import POOLS_SCHEMA, SHARDS_SCHEMA, ShardPlan


def write_shards(
    plan: ShardPlan, corpus: pl.DataFrame, out_dir: str | Path, *, id_column: str
) -> ShardPlan:
    """Write one Parquet file per shard to ``out_dir/<plan_id>/shard-NNNNN.parquet``.

    Each file holds the corpus rows of its shard, sorted by ``id_column``. A file whose bytes
    would be identical to the existing one is left alone; others are written to a temporary name
    and renamed into place, so a crash never leaves half a shard. ``plan.json`` (shards, pools,
    summary) and ``assignment.parquet`` (item -> shard) are written next to the shards.

    Returns the plan with ``file`` (relative to ``out_dir``) set on every shard;
    ``summary["write"]`` counts the files written and skipped.
    """
    out_dir = Path(out_dir)
    target = out_dir / plan.plan_id
    target.mkdir(parents=True, exist_ok=True)
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
    written = skipped = 0
    files = []
    for shard_id in plan.shards["shard_id"].to_list():
        part = parts[(shard_id,)].sort(id_column)
        name = f"shard-{shard_id:05d}.parquet"
        if _put(target / name, _parquet_bytes(part)):
            written += 1
        else:
            skipped += 1
        files.append(f"{plan.plan_id}/{name}")
    shards = plan.shards.with_columns(file=pl.Series(files, dtype=pl.String))
    done = replace(plan, shards=shards)
    doc = {
        "plan_id": plan.plan_id,
        "summary": plan.summary,
        "pools": plan.pools.to_dicts(),
        "shards": shards.to_dicts(),
    }
    text = json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"
    for ok in (
        _put(target / "plan.json", text.encode()),
        _put(target / "assignment.parquet", _parquet_bytes(plan.assignment)),
    ):
        written, skipped = written + ok, skipped + (not ok)
    done.summary = {**plan.summary, "write": {"written": written, "skipped": skipped}}
    return done


def read_plan(plan_dir: str | Path) -> ShardPlan:
    """Read a plan written by :func:`write_shards` (e.g. as ``previous`` for a re-plan)."""
    plan_dir = Path(plan_dir)
    doc = json.loads((plan_dir / "plan.json").read_text(encoding="utf-8"))
    return ShardPlan(
        plan_id=doc["plan_id"],
        shards=pl.DataFrame(doc["shards"], schema=SHARDS_SCHEMA),
        pools=pl.DataFrame(doc["pools"], schema=POOLS_SCHEMA),
        summary=doc["summary"],
        assignment=pl.read_parquet(plan_dir / "assignment.parquet"),
    )


def _parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf, compression="zstd", statistics=True)
    return buf.getvalue()


def _put(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless the file already holds exactly it."""
    if path.exists() and path.stat().st_size == len(data):
        if hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest():
            return False
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed writer
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    crash_point("shard.replace.before", path)
    os.replace(tmp, path)
    return True
