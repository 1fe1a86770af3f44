"""The lake's layout: where every table lives, and the name DuckDB users query it by.

This module is the one definition of both. Writers ask it for a table's folder; the catalog asks
it which views exist and which folders they read. Nothing else joins path segments under the lake.

::

    lake/
      <table>                  canonical tables (sensor_readings ...), equipment, equipment_suggestions
      <corpus>                 corpora (text_corpus ...), one Delta version per build
      <corpus>_excluded        what a corpus build left out, with the reason
      shard_plan, shards, shard_pools   the latest shard plan
      shard_plans              every shard plan made (history; the previous plan of a job)
      staged/<source>          each source's rows as ingested          view staged_<source>
      standardized/<table>     every source of a table, deduplicated   view standardized_<table>
      _quarantine/<stage>/<n>  rejected rows of one writer             view quarantine (union)
      _ledger/<source>         the per-file ingest ledger              view ingest_files (union)
      _aliases/<source>        equipment spellings seen per file       view equipment_aliases (union)
      _manifests/<corpus>/v<N>.json   the manifest of each corpus version (v<N>.md its data card,
                                      v<N>.tokenizer.json the tokenizer its n_tokens counts with)
      images/<sha[:2]>/<sha>.<ext>    image_corpus images, stored once by content hash

The lake is a local folder or an object-storage prefix (``s3://bucket/prefix``): a local lake's
paths are :class:`pathlib.Path`, a remote one's URI strings (:mod:`corpusmill.storage` joins and
lists both), and deltalake, polars and :mod:`corpusmill.storage` take either as they are.

Tables that many writers feed are one Delta table per writer (a source, or a stage and a table),
so concurrent writers never commit to the same table; the catalog unions them into one view.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from corpusmill import canonical, storage
from corpusmill.storage import Where

#: Stages that write quarantine rows (``_quarantine/<stage>/<name>``).
STAGES = ("ingest", "standardize", "validate")

#: The latest shard plan's tables.
PLAN_TABLES = ("shard_plan", "shards", "shard_pools")
#: Every shard plan ever made (one row per plan_id; job, corpus version, catalog hash, folder).
PLAN_HISTORY_TABLE = "shard_plans"

#: Tables at the top of the lake that are neither canonical tables nor corpora.
EQUIPMENT_SUGGESTIONS = "equipment_suggestions"

EXCLUDED_SUFFIX = "_excluded"

#: Views that union one table per writer.
QUARANTINE_VIEW = "quarantine"
LEDGER_VIEW = "ingest_files"
ALIASES_VIEW = "equipment_aliases"


#: The columns a staged table's files keep min/max statistics on: the only ones reads skip its
#: files by (ingest replaces a file's rows by ``_file``; standardize reads it in ``_file`` and
#: ``_row`` ranges; everything else reads it whole).
STAGED_INDEXED = ("_file", "_row")


def staged_view(source: str) -> str:
    return f"staged_{source}"


def standardized_view(table: str) -> str:
    return f"standardized_{table}"


def excluded_view(corpus: str) -> str:
    return f"{corpus}{EXCLUDED_SUFFIX}"


@dataclass(frozen=True)
class Lake:
    """The folders of one lake (``<home>/lake``, or ``$CORPUSMILL_LAKE``)."""

    root: Where

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", storage.normalize(self.root))

    def _at(self, *parts: str) -> Where:
        return storage.join(self.root, *parts)

    # -- one table per name ------------------------------------------------------------------

    def table(self, name: str) -> Where:
        """A top-level table: a canonical table, a corpus, a plan table, equipment_suggestions."""
        return self._at(name)

    def excluded(self, corpus: str) -> Where:
        return self.table(excluded_view(corpus))

    def image(self, sha256: str, image_format: str | None) -> Where:
        """Where an image's bytes are stored once, by content: ``images/<sha256[:2]>/<sha256>.<ext>``."""
        ext = (image_format or "bin").lower()
        return self._at("images", sha256[:2], f"{sha256}.{ext}")

    def manifest(self, corpus: str, version: int) -> Where:
        return self._at("_manifests", corpus, f"v{version}.json")

    def data_card(self, corpus: str, version: int) -> Where:
        """The Markdown data card of a corpus version, beside its manifest."""
        return self._at("_manifests", corpus, f"v{version}.md")

    def tokenizer(self, corpus: str, version: int) -> Where:
        """The ``tokenizer.json`` a corpus version's ``n_tokens`` were counted with, beside its
        manifest (loads with ``tokenizers.Tokenizer.from_file``)."""
        return self._at("_manifests", corpus, f"v{version}.tokenizer.json")

    # -- one table per writer ----------------------------------------------------------------

    def staged(self, source: str) -> Where:
        """Each source's rows as ingested; its files keep statistics on :data:`STAGED_INDEXED`."""
        return self._at("staged", source)

    def standardized(self, table: str) -> Where:
        return self._at("standardized", table)

    def quarantine(self, stage: str, name: str) -> Where:
        """Rejected rows of one writer: ``stage`` ingest (name = source), standardize or validate
        (name = table)."""
        if stage not in STAGES:
            msg = f"unknown quarantine stage {stage!r}; stages: {', '.join(STAGES)}"
            raise ValueError(msg)
        return self._at("_quarantine", stage, name)

    def ledger(self, source: str) -> Where:
        return self._at("_ledger", source)

    def aliases(self, source: str) -> Where:
        return self._at("_aliases", source)

    # -- what the catalog shows ---------------------------------------------------------------

    def views(self, corpora: Iterable[str]) -> dict[str, Where]:
        """View name -> table folder, for every single-table view whose table exists."""
        corpora = list(corpora)
        named = [
            *canonical.TABLES,
            EQUIPMENT_SUGGESTIONS,
            *corpora,
            *map(excluded_view, corpora),
            *PLAN_TABLES,
            PLAN_HISTORY_TABLE,
        ]
        out = {name: self.table(name) for name in named}
        out |= {staged_view(_name(p)): p for p in _tables_in(self._at("staged"))}
        out |= {standardized_view(_name(p)): p for p in _tables_in(self._at("standardized"))}
        return {name: path for name, path in out.items() if is_table(path)}

    def unions(self) -> dict[str, list[Where]]:
        """View name -> the per-writer tables it unions (those that exist)."""
        return {
            QUARANTINE_VIEW: [p for s in STAGES for p in _tables_in(self._at("_quarantine", s))],
            LEDGER_VIEW: _tables_in(self._at("_ledger")),
            ALIASES_VIEW: _tables_in(self._at("_aliases")),
        }


def is_table(path: Where) -> bool:
    """A folder holding a Delta table (checked by its log, without opening it)."""
    return storage.is_dir(storage.join(path, "_delta_log"))


def _name(path: Where) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def _tables_in(folder: Where) -> list[Where]:
    return [p for p in storage.subfolders(folder) if is_table(p)]
