"""Versioned corpora: one Delta version per build, each with a manifest.

A build whose content hash and config hash equal the latest version's is not written again, so the
same inputs and config always map to the same version (repeatable runs add no versions).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import polars as pl

from corpusmill import lake, storage
from corpusmill.faults import crash_point
from corpusmill.layout import Lake
from corpusmill.storage import Where

MANIFEST_KEY = "corpusmill.manifest"


@dataclass(frozen=True)
class Published:
    corpus: str
    version: int
    content_hash: str
    created: bool  # False when an identical version already existed
    manifest: dict[str, Any]
    manifest_path: Where
    card_markdown: str | None = None  # the version's data card


def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("corpusmill")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0+unknown"


def publish(
    lake_root: Where,
    corpus: str,
    df: pl.DataFrame,
    *,
    sort_by: list[str],
    inputs: dict[str, int | None],
    config: dict[str, Any],
    quality: dict[str, Any] | None = None,
    card: dict[str, Any] | None = None,
    counts: dict[str, Any] | None = None,
    card_markdown: str | None = None,
) -> Published:
    """Write ``df`` as the next version of a corpus unless the latest version is identical.

    Parameters
    ----------
    inputs
        Input table name -> the Delta version read, for lineage.
    config
        The settings that shaped the build; hashed into ``config_hash``.
    """
    at = Lake(lake_root)
    table_path = at.table(corpus)
    df = df.sort(sort_by, nulls_last=True, maintain_order=True)
    chash = lake.content_hash(df)
    cfg_hash = lake.json_hash(config)
    latest = latest_manifest(table_path)
    if latest and latest["content_hash"] == chash and latest["config_hash"] == cfg_hash:
        path = at.manifest(corpus, latest["version"])
        if not storage.exists(path):  # a run killed between the commit and the manifest file
            _write_manifest(path, latest)
        return Published(corpus, latest["version"], chash, False, latest, path, card_markdown)
    manifest: dict[str, Any] = {
        "corpus": corpus,
        "content_hash": chash,
        "config_hash": cfg_hash,
        "config": config,
        "inputs": inputs,
        "code_version": code_version(),
        "rows": df.height,
        "counts": counts or {},
        "quality": quality or {},
        "data_card": {k: v for k, v in (card or {}).items() if k != "markdown"},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    version = lake.overwrite(
        table_path, df, metadata={MANIFEST_KEY: json.dumps(manifest, default=str)}
    )
    manifest["version"] = version
    if card_markdown is not None:
        card_path = at.data_card(corpus, version)
        storage.write_text(card_path, card_markdown)
        manifest["data_card_file"] = storage.relative(card_path, at.root)
    path = at.manifest(corpus, version)
    crash_point("corpus.manifest.before", path)
    _write_manifest(path, manifest)
    return Published(corpus, version, chash, True, manifest, path, card_markdown)


def _write_manifest(path: Where, manifest: dict[str, Any]) -> None:
    """The manifest file (a copy of the commit's metadata), written whole or not at all."""
    text = json.dumps(manifest, indent=2, default=str)
    storage.write_text(path, text)


def manifests(table_path: Where) -> list[dict[str, Any]]:
    """Every version's manifest, oldest first."""
    out = []
    for commit in lake.history(table_path):
        raw = commit.get(MANIFEST_KEY)
        if raw:
            m = json.loads(raw)
            m["version"] = commit["version"]
            out.append(m)
    return out


def latest_manifest(table_path: Where) -> dict[str, Any] | None:
    ms = manifests(table_path)
    return ms[-1] if ms else None
