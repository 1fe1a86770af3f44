"""The parts of a busy source: which files one partition of it (a day, a file group) holds.

A source with ``partition_by`` ingests part by part. Every file belongs to exactly one part, found
from the file alone (its path), so a part's file set never depends on which other files exist and
two parts never share a file:

* ``day``: the declared pattern's group in the file's path (as ``_file`` records it), a date;
* ``file_groups: N``: a stable hash of that path, modulo ``N`` (a new file joins a group without
  moving any other file).

:data:`ALL` is the part holding every file of a source (split or not): ingesting it is ingesting
the whole source. A part's run reads, replaces and records only its own files' rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable

from corpusmill.config import Source, SourcesConfig
from corpusmill.ingest.files import IngestError, provenance_path, resolve_files

#: The part that holds every file of a source.
ALL = "all"


def file_part(cfg: SourcesConfig, src: Source, file: str) -> str:
    """The part ``file`` (a resolved path of ``src``) belongs to; :data:`ALL` for an unsplit source.

    Raises
    ------
    IngestError
        The source splits by day and the file's path carries no valid date matching the pattern.
    """
    spec = src.partition_by
    if spec is None:
        return ALL
    rel = provenance_path(cfg, file)
    if spec.file_groups is not None:
        width = len(str(spec.file_groups - 1))
        digest = hashlib.sha256(rel.encode()).digest()
        return f"g{int.from_bytes(digest[:8], 'big') % spec.file_groups:0{width}d}"
    m = re.search(spec.day or "", rel)
    if m is None:
        msg = (f"source {src.name!r}: {rel}: the path carries no date matching partition_by.day "
               f"{spec.day!r}, so it belongs to no day; rename the file, narrow the source's "
               "path or change the pattern (the source's 'all' partition ingests it as it is)")  # fmt: skip
        raise IngestError(msg)
    return _iso_day(src, rel, m.group(1))


def _iso_day(src: Source, rel: str, text: str) -> str:
    digits = re.sub(r"\D", "", text or "")
    try:
        if len(digits) != 8:
            raise ValueError(text)
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:])).isoformat()
    except ValueError:
        msg = (f"source {src.name!r}: {rel}: partition_by.day captured {text!r}, which is not a "
               "date (YYYY-MM-DD or YYYYMMDD)")  # fmt: skip
        raise IngestError(msg) from None


def in_part(cfg: SourcesConfig, src: Source, files: Iterable[str], part: str | None) -> list[str]:
    """The files of ``files`` that belong to ``part`` (all of them for ``None`` or :data:`ALL`).

    For one part, every file's part is computed: a file whose path carries no valid date fails
    each day of its source (the error names it) instead of silently belonging to none; the
    source's :data:`ALL` partition still ingests it.
    """
    files = list(files)
    if part is None or part == ALL:
        return files
    return [f for f in files if file_part(cfg, src, f) == part]


def source_parts(
    cfg: SourcesConfig, src: Source, *, storage_options: dict | None = None
) -> list[str]:
    """The parts ``src`` has now, sorted (``[]`` for an unsplit source).

    File groups are all ``N`` of them; days are those of the files present (files whose path has
    no valid date are left out here and reported when the source is ingested).
    """
    spec = src.partition_by
    if spec is None:
        return []
    if spec.file_groups is not None:
        width = len(str(spec.file_groups - 1))
        return [f"g{i:0{width}d}" for i in range(spec.file_groups)]
    days = set()
    for f in resolve_files(cfg, src, storage_options=storage_options):
        try:
            days.add(file_part(cfg, src, f))
        except IngestError:
            continue
    return sorted(days)


def ledger_in_part(
    cfg: SourcesConfig, src: Source, files: Iterable[str], part: str | None
) -> list[str]:
    """The files a source's ledger records that belong to ``part`` (all for ``None``/:data:`ALL`).

    Unlike :func:`in_part` this never raises: a recorded file whose part cannot be told (the
    pattern changed since) belongs to :data:`ALL` only, which ingests the whole source.
    """
    files = list(files)
    if part is None or part == ALL:
        return files
    out = []
    for f in files:
        try:
            if file_part(cfg, src, f) == part:
                out.append(f)
        except IngestError:
            continue
    return out
