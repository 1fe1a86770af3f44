"""What changed between two versions of a corpus: rows added, removed and changed, by source.

Rows are matched by the corpus's ``id_column``; a row is *changed* when its id is in both versions
and any other column differs. Each row is attributed to its ``_source`` (the new version's for
added and changed rows, the old version's for removed ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from corpusmill import lake
from corpusmill.corpora import corpus as corpus_spec
from corpusmill.corpus import CorpusError
from corpusmill.layout import Lake

KINDS = ("added", "removed", "changed")


@dataclass(frozen=True)
class CorpusDiff:
    corpus: str
    old: int
    new: int
    id_column: str
    counts: dict[str, int]  # kind -> rows
    by_source: dict[str, dict[str, int]]  # source -> kind -> rows
    samples: dict[str, list[str]] = field(default_factory=dict)  # kind -> a few ids

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus, "old": self.old, "new": self.new,
            "id_column": self.id_column, "counts": self.counts, "by_source": self.by_source,
            "samples": self.samples,
        }  # fmt: skip


def _source_of(frame: pl.DataFrame) -> pl.Expr:
    return pl.col("_source").cast(pl.String) if "_source" in frame.columns else pl.lit("-")


def diff_frames(
    old: pl.DataFrame, new: pl.DataFrame, *, id_column: str, sample: int = 3
) -> dict[str, Any]:
    """Rows added, removed and changed from ``old`` to ``new`` (matched by ``id_column``)."""
    for name, frame in (("old", old), ("new", new)):
        if id_column not in frame.columns:
            msg = f"the {name} version has no id column {id_column!r}"
            raise CorpusError(msg)
    shared = [c for c in new.columns if c in old.columns and c != id_column]
    key = pl.struct(shared).hash() if shared else pl.lit(0, pl.UInt64)
    o = old.select(pl.col(id_column).cast(pl.String).alias("id"), key.alias("h"),
                   _source_of(old).alias("source"))  # fmt: skip
    n = new.select(pl.col(id_column).cast(pl.String).alias("id"), key.alias("h"),
                   _source_of(new).alias("source"))  # fmt: skip
    frames = {
        "added": n.join(o, on="id", how="anti"),
        "removed": o.join(n, on="id", how="anti"),
        "changed": n.join(o, on="id", how="inner", suffix="_old").filter(
            pl.col("h") != pl.col("h_old")
        ),
    }
    counts = {k: f.height for k, f in frames.items()}
    by_source: dict[str, dict[str, int]] = {}
    for kind, f in frames.items():
        for src, n_rows in f.group_by("source").len().sort("source").iter_rows():
            by_source.setdefault(src or "-", dict.fromkeys(KINDS, 0))[kind] = n_rows
    samples = {k: sorted(f["id"].to_list())[:sample] for k, f in frames.items()}
    return {"counts": counts, "by_source": dict(sorted(by_source.items())), "samples": samples}


def diff_versions(
    lake_root: Path, corpus: str, old: int, new: int, *, sample: int = 3
) -> CorpusDiff:
    """Compare versions ``old`` and ``new`` of a published corpus.

    Raises
    ------
    CorpusError
        An unknown corpus, or a version the corpus does not have (the known ones are listed).
    """
    spec = corpus_spec(corpus)
    path = Lake(lake_root).table(corpus)
    known = [c["version"] for c in lake.history(path)]
    for v in (old, new):
        if v not in known:
            msg = f"{corpus} has no version {v}; versions: {', '.join(map(str, known)) or 'none'}"
            raise CorpusError(msg)
    out = diff_frames(lake.read(path, version=old), lake.read(path, version=new),
                      id_column=spec.id_column, sample=sample)  # fmt: skip
    return CorpusDiff(corpus, old, new, spec.id_column, **out)
