"""Ingest one source: find its files, skip what is unchanged, map the rest onto the canonical model.

Per source, in one run:

* the files the source's ``path`` names are resolved and must lie inside a declared data root;
* each file is compared with the source's ledger (size and mtime first, then sha256), so only new
  and changed files are read: a new file costs its own size, not the history's;
* the rows of all new or changed files stream through :class:`corpusmill.mapping.Mapper` into the
  source's staged Delta table in one commit that replaces exactly those files' earlier rows, so
  ingesting the same file twice changes nothing;
* every row that cannot be ingested goes to quarantine with its file, row, column and reason.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from corpusmill import canonical, lake, readers
from corpusmill.layout import Lake
from corpusmill.config import DOCUMENT_FORMATS, Source, SourcesConfig
from corpusmill.ingest.files import IMAGE_SUFFIXES, IngestError, resolve_files, source_hash
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
from corpusmill.ingest.quarantine import _file_problem, _missing_columns, _rejects_to_quarantine
from corpusmill.mapping import ALIAS_SCHEMA, FileContext, Mapper, MappingError

__all__ = [
    "BATCH_ROWS",
    "IMAGE_SUFFIXES",
    "LEDGER_SCHEMA",
    "FilePlan",
    "FileResult",
    "IngestError",
    "SourceResult",
    "conservation",
    "ingest_source",
    "pending_files",
    "plan_files",
    "resolve_files",
    "source_hash",
]


def ingest_source(
    cfg: SourcesConfig,
    src: Source,
    lake_root: Path,
    *,
    run_id: str,
    force: bool = False,
    storage_options: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> SourceResult:
    """Ingest the new and changed files of one source into its staged table; see module doc."""
    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    table = canonical.KIND_TABLE[src.kind]
    if table == "equipment":
        msg = f"source {src.name!r}: kind equipment is read from the registry, not ingested"
        raise IngestError(msg)
    lake_root = Path(lake_root)
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
                          while_hashing=preopen)  # fmt: skip
        results, todo, removed, shash, sidecar = (
            plan.results, plan.todo, plan.removed, plan.source_hash, plan.sidecar
        )
        previous = plan.previous

        replaced = [fr.file for fr in todo] + removed + [
            r.file for r in results if r.status == "duplicate"
        ]
        if todo or removed or any(r.status == "duplicate" for r in results):
            say(f"{src.name}: {len(todo)} file(s) to ingest, {len(removed)} removed")
            quarantine: list[pl.DataFrame] = []
            aliases: list[pl.DataFrame] = []
            schema = canonical.schema(table)
            arrow_schema = lake.to_arrow(pl.DataFrame(schema=schema)).schema
            stream = _stream(cfg, src, todo, run_id, sidecar, storage_options, quarantine, aliases,
                             arrow_schema, say, workdir, opened)  # fmt: skip
            reader = pa.RecordBatchReader.from_batches(arrow_schema, _prefetch(stream))
            where = {"_file": replaced}
            at = Lake(lake_root)
            lake.replace_rows(at.staged(src.name), reader, where=where)
            q = pl.concat(quarantine) if quarantine else canonical.empty_quarantine()
            lake.replace_rows(at.quarantine("ingest", src.name), q, where=where)
            a = pl.concat(aliases) if aliases else pl.DataFrame(schema=ALIAS_SCHEMA)
            lake.replace_rows(at.aliases(src.name), a, where=where)
        _write_ledger(lake_root, src.name, results, shash, run_id, previous)
        return SourceResult(src.name, table, results, removed, time.perf_counter() - t0)


def _stream(
    cfg: SourcesConfig,
    src: Source,
    todo: list[FileResult],
    run_id: str,
    sidecar: tuple[pl.DataFrame, str] | None,
    storage_options: dict | None,
    quarantine: list[pl.DataFrame],
    aliases: list[pl.DataFrame],
    arrow_schema: pa.Schema,
    say: Callable[[str], None],
    workdir: Path,
    opened: dict[str, Any],
) -> Iterator[pa.RecordBatch]:
    table = canonical.KIND_TABLE[src.kind]
    for n, fr in enumerate(todo, 1):
        say(f"{src.name}: [{n}/{len(todo)}] {fr.file}")
        ctx = FileContext(src.name, fr.file, fr.sha256 or "", run_id, table)
        checks: Counter[str] = Counter()
        try:
            pre = opened.pop(fr.file, None)
            if isinstance(pre, Exception):
                raise pre
            batches, columns, rejects, encoding = pre or _open(
                cfg, src, fr.file, sidecar, storage_options, workdir
            )
        except readers.ReaderError as e:
            fr.status, fr.message = "failed", str(e)
            q = _file_problem(ctx, "unreadable_file", None, str(e))
            quarantine.append(q)
            fr.rows_quarantined, fr.by_check = 1, {"unreadable_file": 1}
            continue
        fr.encoding = encoding
        mapper = Mapper(cfg, src, ctx, columns)
        missing = mapper.missing_columns()
        if rejects.height:
            q = _rejects_to_quarantine(ctx, rejects, _reshaped_tags(mapper, columns))
            quarantine.append(q)
            checks.update(q.get_column("check").to_list())
            fr.units_in += _units(mapper, rejects.height, columns)
            fr.rows_quarantined += q.height
        for batch in batches:
            if missing:
                q = _missing_columns(ctx, batch, missing, columns)
                quarantine.append(q)
                checks.update({"missing_column": q.height})
                fr.units_in += q.height
                fr.rows_quarantined += q.height
                continue
            fr.units_in += _units(mapper, batch.height, columns)  # counted before mapping
            good, bad = mapper.transform(batch)
            fr.rows_kept += good.height
            fr.rows_quarantined += bad.height
            if bad.height:
                quarantine.append(bad)
                checks.update(bad.get_column("check").to_list())
            if good.height:
                arrow = lake.to_arrow(good)
                if arrow.schema != arrow_schema:
                    arrow = arrow.cast(arrow_schema)
                yield from arrow.to_batches()
        if not columns:  # a 0-byte file has no header: nothing drifted, nothing to map
            fr.message = "empty file: no header and no rows"
        elif missing:
            fr.message = (
                f"file lacks mapped column(s) {sorted(missing)}; it has {columns}"
            )
        fr.by_check = dict(checks)
        aliases.append(mapper.tally.frame(src.name, fr.file))


def _prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """``items``, produced by a worker thread up to ``depth`` ahead of the consumer.

    The Delta writer encodes and writes one batch while the next is read and mapped (polars and
    delta-rs release the GIL), instead of the two taking turns. Errors reach the consumer; a
    consumer that stops early stops the worker.
    """
    import queue
    import threading

    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    break
        except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
            put(("error", e))
        else:
            put(("done", None))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name="corpusmill-ingest-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        worker.join()


def _reshaped_tags(mapper: Mapper, columns: list[str]) -> list[str] | None:
    """The tag columns of a wide or batch sensor file (each of its cells is one reading)."""
    if mapper.src.kind == "sensor" and mapper.src.shape in ("wide", "batch"):
        spec = mapper.src.wide or mapper.src.batch
        keys = {getattr(spec, a, None) for a in ("time_column", "batch_column", "offset_column")}
        return mapper._tag_columns(columns, {k for k in keys if k})
    return None


def _units(mapper: Mapper, rows: int, columns: list[str]) -> int:
    """Rows of a wide or batch file count once per tag cell; other files once per row."""
    tags = _reshaped_tags(mapper, columns)
    return rows * len(tags) if tags is not None else rows


