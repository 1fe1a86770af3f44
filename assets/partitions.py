"""Partitions: each ingest asset is partitioned by the sources that feed its table.

A table whose sources are all ingested whole keeps one static partition per source. A table with
a busy source split further (``partition_by`` in the sources file: by day, or into file groups)
gets a :class:`dagster.MultiPartitionsDefinition` ``source × part``: ``part`` holds the parts of
every split source of the table (days as ``YYYY-MM-DD``, groups as ``g0``, ``g1``, ...) and
``all``, the whole source. So a year of a historian is 365 partitions, each its own run, and the
other sources of the table are the partitions ``(source, all)``. A part that holds none of a
source's files (a day of another historian, a day of an unsplit source) ingests nothing.

The days are those of the files present when the code location loads: a new day's files are
ingested by the source's ``all`` partition (the sensor requests it) until the next reload makes
the day a partition of its own.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from corpusmill.config import SourcesConfig
from corpusmill.ingest import ALL, IngestError, file_part, source_parts

#: The dimensions of a split table's partitions.
SOURCE_DIM, PART_DIM = "source", "part"


def source_partitions(cfg: SourcesConfig) -> dict[str, dg.PartitionsDefinition]:
    """Ingested canonical table -> its partitions: by source, or source × part (module doc)."""
    out: dict[str, dg.PartitionsDefinition] = {}
    for table, names in cfg.ingested_sources().items():
        split = [cfg.source(n) for n in names if cfg.source(n).partition_by is not None]
        if not split:
            out[table] = dg.StaticPartitionsDefinition(names)
            continue
        parts = sorted({p for src in split for p in _parts_now(cfg, src)})
        out[table] = dg.MultiPartitionsDefinition(
            {
                SOURCE_DIM: dg.StaticPartitionsDefinition(names),
                PART_DIM: dg.StaticPartitionsDefinition([ALL, *parts]),
            }
        )
    return out


def _parts_now(cfg: SourcesConfig, src) -> list[str]:
    """The source's parts as its files are now; none when they cannot be listed (a path outside
    the data roots, an unreachable store): loading never fails on data, the ``all`` partition
    remains and its run reports the error."""
    try:
        return source_parts(cfg, src)
    except (IngestError, OSError):
        return []


def source_and_part(key: str, parts: dg.PartitionsDefinition) -> tuple[str, str | None]:
    """``(source, part)`` of a key of ``parts``; the part is ``None`` for a plain source key."""
    if isinstance(parts, dg.MultiPartitionsDefinition):
        dims = parts.get_partition_key_from_str(str(key)).keys_by_dimension
        return dims[SOURCE_DIM], dims[PART_DIM]
    return str(key), None


def partition_key(source: str, part: str | None) -> str:
    """The ingest partition key of ``(source, part)`` (a plain source key for ``None``)."""
    if part is None:
        return source
    return dg.MultiPartitionKey({SOURCE_DIM: source, PART_DIM: part})


def runs_of(
    cfg: SourcesConfig, keys: list[str], parts: dg.PartitionsDefinition
) -> list[tuple[str, str | None]]:
    """The ``(source, part)`` pairs a run over ``keys`` ingests, in order.

    A source's ``all`` part covers its other parts (those keys are dropped from the same run), and
    a part of a source that is not split holds none of its files (dropped too).
    """
    pairs = [source_and_part(k, parts) for k in keys]
    whole = {s for s, p in pairs if p == ALL}
    out: list[tuple[str, str | None]] = []
    for s, p in pairs:
        if p not in (None, ALL) and (s in whole or cfg.source(s).partition_by is None):
            continue
        if (s, p) not in out:
            out.append((s, p))
    return out


def requested_keys(
    cfg: SourcesConfig,
    parts: dg.PartitionsDefinition,
    source: str,
    files: Iterable[str] | None = None,
) -> list[str]:
    """The partition keys of ``parts`` to request for ``source``: the parts holding ``files`` (new,
    changed or removed files), or else every part the source has now.

    A plain source key where the table is not split; ``(source, all)`` for a source that is not
    split, and for files whose part is not (yet) a key of ``parts`` (a day that arrived after the
    code location loaded, or a file with no valid date), which then alone is requested.
    """
    if not isinstance(parts, dg.MultiPartitionsDefinition):
        return [source]
    src = cfg.source(source)
    if src.partition_by is None:
        return [str(partition_key(source, ALL))]
    if files is None:
        found = _parts_now(cfg, src) or [ALL]
    else:
        found = []
        for f in files:
            try:
                found.append(file_part(cfg, src, f))
            except IngestError:
                found.append(ALL)
    known = {str(k) for k in parts.get_partition_keys()}
    out: list[str] = []
    for p in sorted(set(found)):
        key = str(partition_key(source, p))
        key = key if key in known else str(partition_key(source, ALL))
        if key not in out:
            out.append(key)
    whole = str(partition_key(source, ALL))
    return [whole] if whole in out else out  # the whole source covers its parts


def sources_of(parts: dg.PartitionsDefinition) -> list[str]:
    """The sources an ingest asset's partitions cover."""
    if isinstance(parts, dg.MultiPartitionsDefinition):
        return parts.get_partitions_def_for_dimension(SOURCE_DIM).get_partition_keys()
    return parts.get_partition_keys()
