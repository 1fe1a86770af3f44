"""Ingest one source: find its files, skip what is unchanged, map the rest onto the canonical model.

Per source, in one run:

* the files the source's ``path`` names are resolved and must lie inside a declared data root;
* each file is compared with the source's ledger (size and mtime first, then sha256), so only new
  and changed files are read: a new file costs its own size, not the history's;
* the rows of all new or changed files stream through :class:`corpusmill.mapping.Mapper` into the
  source's staged Delta table in one commit that replaces exactly those files' earlier rows, so
  ingesting the same file twice changes nothing;
* every row that cannot be ingested goes to quarantine with its file, row, column and reason.

Modules (this package holds :func:`ingest_source`, the run of one source, and re-exports the rest)
    ``files`` the files a source names, inside the data roots, their stat and the source's hash;
    ``ledger`` the per-file ledger, the plan of what changed, checksums, conservation counts;
    ``formats`` opening one file by format (documents, images with a sidecar, tables with joins);
    ``stream`` :class:`~corpusmill.ingest.stream.SourceStream`, the mapped rows of one run with
    its quarantine and alias frames, and the prefetch thread that feeds the Delta writer;
    ``quarantine`` the quarantine rows of the ingest stage;
    ``parts`` the parts (days, file groups) of a source with ``partition_by``: which files one
    partition holds. A part's run reads, replaces and records only its own files' rows, so parts
    ingested at the same time (other processes, other machines) leave every row once: a Delta
    commit that lost a race with another part's is retried from the plan
    (:func:`ingest_source`).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corpusmill import lake
from corpusmill.config import DOCUMENT_FORMATS, Source, SourcesConfig
from corpusmill.ingest.files import (
    IMAGE_SUFFIXES,
    IngestError,
    provenance_path,
    resolve_files,
    source_hash,
)
from corpusmill.ingest.formats import BATCH_ROWS, _open
from corpusmill.ingest.ledger import (
    LEDGER_SCHEMA,
    FilePlan,
    FileResult,
    SourceResult,
    _write_ledger,
    conservation,
    pending_files,
    plan_files,
)
from corpusmill.ingest.parts import ALL, file_part, ledger_in_part, source_parts
from corpusmill.ingest.stream import SourceStream, _prefetch
from corpusmill.layout import STAGED_INDEXED, Lake
from corpusmill.progress import current as watcher
from corpusmill.storage import Where

__all__ = [
    "ALL",
    "BATCH_ROWS",
    "IMAGE_SUFFIXES",
    "LEDGER_SCHEMA",
    "FilePlan",
    "FileResult",
    "IngestError",
    "SourceResult",
    "conservation",
    "file_part",
    "ingest_source",
    "part_conservation",
    "pending_files",
    "plan_files",
    "resolve_files",
    "source_hash",
    "source_parts",
    "writer_threads",
]

#: Environment variable that sets the number of Parquet writer threads of one ingest.
WRITERS_ENV = "CORPUSMILL_INGEST_WRITERS"


def writer_threads() -> int:
    """Parquet writer threads of one ingest: ``$CORPUSMILL_INGEST_WRITERS``, else the processors
    this process may run on (``os.sched_getaffinity``), at most 2.

    Encoding Parquet is the critical path of a wide stream and one writer keeps one core busy;
    a second writer (started only when batches wait, see :func:`corpusmill.lake.
    replace_rows_parallel`) uses the core the reading and mapping leave idle. More than two
    buys little, as the reader and the mapper need their share; ``1`` writes as one
    ``write_deltalake``. Ingests run side by side (Dagster's multiprocess executor) can set it
    to 1 so that each gets one core.
    """
    env = os.environ.get(WRITERS_ENV, "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            msg = f"${WRITERS_ENV}={env!r}: expected a whole number of writer threads"
            raise IngestError(msg) from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(2, cores or 1))


#: Attempts of one part's ingest when its Delta commits keep losing races with other writers.
COMMIT_ATTEMPTS = 8


def ingest_source(
    cfg: SourcesConfig,
    src: Source,
    lake_root: Where,
    *,
    run_id: str,
    force: bool = False,
    storage_options: dict | None = None,
    progress: Callable[[str], None] | None = None,
    part: str | None = None,
) -> SourceResult:
    """Ingest the new and changed files of one source into its staged table; see module doc.

    ``part`` (a day or file group of a source with ``partition_by``, or :data:`ALL`) limits the
    run to that part's files. Another writer's commit to the same tables (another part, at the
    same time) can make a commit of this run fail; nothing of the failed commit is written and
    the ledger is written last, so the run is planned and written again, up to
    :data:`COMMIT_ATTEMPTS` times.
    """
    from deltalake.exceptions import CommitFailedError

    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            return _ingest_once(cfg, src, lake_root, run_id=run_id, force=force, part=part,
                                storage_options=storage_options, progress=progress)  # fmt: skip
        except CommitFailedError as e:
            if attempt == COMMIT_ATTEMPTS:
                msg = (f"source {src.name!r}{f' part {part!r}' if part else ''}: {attempt} "
                       f"commits in a row lost to concurrent writers: {e}")  # fmt: skip
                raise IngestError(msg) from e
            (progress or (lambda _m: None))(
                f"{src.name}: a concurrent writer committed first; planning again ({attempt})"
            )
            time.sleep(random.uniform(0.05, 0.2) * 2**attempt)  # jitter, not crypto
    raise AssertionError("not reached")


def _ingest_once(
    cfg: SourcesConfig,
    src: Source,
    lake_root: Where,
    *,
    run_id: str,
    force: bool,
    part: str | None,
    storage_options: dict | None,
    progress: Callable[[str], None] | None,
) -> SourceResult:
    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    table = cfg.table_of(src)
    if table is None:
        msg = f"source {src.name!r}: kind equipment is read from the registry, not ingested"
        raise IngestError(msg)
    with tempfile.TemporaryDirectory(prefix="corpusmill-ingest-") as tmp:
        workdir = Path(tmp)
        opened: dict[str, Any] = {}

        def preopen(files: list[str]) -> None:
            # the first file to read is opened (encoding, field-count check) while the checksums
            # are computed; if the plan then skips it, the work is simply dropped
            if src.format in DOCUMENT_FORMATS or src.format == "images":
                return
            try:
                opened[files[0]] = _open(cfg, src, files[0], None, storage_options, workdir)
            except Exception as e:  # noqa: BLE001 - raised when (if) the file is read
                opened[files[0]] = e

        plan = plan_files(cfg, src, lake_root, force=force, storage_options=storage_options,
                          while_hashing=preopen, part=part)  # fmt: skip
        results, todo, removed, shash, sidecar = (
            plan.results, plan.todo, plan.removed, plan.source_hash, plan.sidecar
        )
        previous = plan.previous

        replaced = [fr.file for fr in todo] + removed + [
            r.file for r in results if r.status == "duplicate"
        ]
        if todo or removed or any(r.status == "duplicate" for r in results):
            say(f"{src.name}: {len(todo)} file(s) to ingest, {len(removed)} removed")
            watch = watcher()
            watch.source_started(src.name, files=len(todo), nbytes=sum(fr.size for fr in todo))
            stream = SourceStream(cfg, src, table, todo, run_id=run_id, sidecar=sidecar,
                                  storage_options=storage_options, say=say, workdir=workdir,
                                  opened=opened)  # fmt: skip
            where = {"_file": [provenance_path(cfg, f) for f in replaced]}
            at = Lake(lake_root)
            lake.replace_rows_parallel(at.staged(src.name), _prefetch(stream.batches()),
                                       schema=stream.arrow_schema, where=where,
                                       writers=writer_threads(), indexed=STAGED_INDEXED)  # fmt: skip
            lake.replace_rows(at.quarantine("ingest", src.name), stream.quarantine_frame(),
                              where=where)  # fmt: skip
            lake.replace_rows(at.aliases(src.name), stream.alias_frame(), where=where)
            watch.source_done(src.name)
        only = None if part is None or part == ALL else [r.file for r in results] + removed
        _write_ledger(lake_root, src.name, results, shash, run_id, previous, only=only)
        return SourceResult(src.name, table, results, removed, time.perf_counter() - t0)


def part_conservation(
    cfg: SourcesConfig, src: Source, lake_root: Where, part: str | None
) -> dict[str, int]:
    """:func:`conservation` of one part of a source (the whole source for ``None``/:data:`ALL`)."""
    if part is None or part == ALL:
        return conservation(lake_root, src.name)
    ledger = lake.read(Lake(lake_root).ledger(src.name), schema=LEDGER_SCHEMA)
    files = ledger_in_part(cfg, src, ledger["_file"].to_list(), part)
    return conservation(lake_root, src.name, files={f: provenance_path(cfg, f) for f in files})
