"""The stream of one source run: its new and changed files read, mapped and handed to the Delta
writer as Arrow batches, prefetched by a worker thread."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from corpusmill import canonical, lake, readers
from corpusmill.config import Source, SourcesConfig
from corpusmill.ingest.files import provenance_path
from corpusmill.ingest.formats import _open
from corpusmill.ingest.ledger import FileResult
from corpusmill.ingest.quarantine import _file_problem, _missing_columns, _rejects_to_quarantine
from corpusmill.mapping import ALIAS_SCHEMA, FileContext, Mapper
from corpusmill.progress import Progress
from corpusmill.progress import current as watcher


class SourceStream:
    """The stream of one source run: the mapped rows of its new and changed files (``todo``) as
    Arrow batches of the table's schema (:meth:`batches`, which also fills in each file's counts),
    and the quarantine rows and alias tallies those files produced, gathered as they are read.

    ``opened`` holds files opened ahead of the stream (what :func:`_open` returned for the file,
    or the exception it raised); each is used, and dropped, when its file comes up.
    """

    def __init__(
        self,
        cfg: SourcesConfig,
        src: Source,
        table: str,
        todo: list[FileResult],
        *,
        run_id: str,
        sidecar: tuple[pl.DataFrame, str] | None,
        storage_options: dict | None,
        say: Callable[[str], None],
        workdir: Path,
        opened: dict[str, Any],
    ) -> None:
        self.cfg, self.src, self.table, self.todo = cfg, src, table, todo
        self.run_id, self.sidecar, self.storage_options = run_id, sidecar, storage_options
        self.say, self.workdir, self.opened = say, workdir, opened
        self.arrow_schema: pa.Schema = lake.to_arrow(
            pl.DataFrame(schema=canonical.schema(table))
        ).schema
        self.quarantine: list[pl.DataFrame] = []  # the files' quarantine rows, frame by frame
        self.aliases: list[pl.DataFrame] = []  # one alias tally per file read

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The files' mapped rows, file by file; a file that cannot be read is quarantined.
        The process's progress watcher hears of every batch's rows and every file done."""
        watch = watcher()
        for n, fr in enumerate(self.todo, 1):
            self.say(f"{self.src.name}: [{n}/{len(self.todo)}] {fr.file}")
            yield from self._file(fr, watch)
            watch.file_done(self.src.name, fr.file, nbytes=fr.size)

    def _file(self, fr: FileResult, watch: Progress) -> Iterator[pa.RecordBatch]:
        """The mapped rows of one file (its counts filled in on ``fr``)."""
        ctx = FileContext(self.src.name, provenance_path(self.cfg, fr.file), fr.sha256 or "",
                          self.run_id, self.table)  # fmt: skip
        checks: Counter[str] = Counter()
        try:
            pre = self.opened.pop(fr.file, None)
            if isinstance(pre, Exception):
                raise pre
            batches, columns, rejects, encoding = pre or _open(
                self.cfg, self.src, fr.file, self.sidecar, self.storage_options, self.workdir
            )
        except readers.ReaderError as e:
            fr.status, fr.message = "failed", str(e)
            q = _file_problem(ctx, "unreadable_file", None, str(e))
            self.quarantine.append(q)
            fr.rows_quarantined, fr.by_check = 1, {"unreadable_file": 1}
            return
        fr.encoding = encoding
        mapper = Mapper(self.cfg, self.src, ctx, columns)
        missing = mapper.missing_columns()
        if rejects.height:
            q = _rejects_to_quarantine(ctx, rejects, _reshaped_tags(mapper, columns))
            self.quarantine.append(q)
            checks.update(q.get_column("check").to_list())
            fr.units_in += _units(mapper, rejects.height, columns)
            fr.rows_quarantined += q.height
            watch.rows_read(self.src.name, rejects.height)
        for batch in _guarded(batches, fr, ctx, self.quarantine, checks):
            watch.rows_read(self.src.name, batch.height)
            if missing:
                q = _missing_columns(ctx, batch, missing, columns)
                self.quarantine.append(q)
                checks.update({"missing_column": q.height})
                fr.units_in += q.height
                fr.rows_quarantined += q.height
                continue
            fr.units_in += _units(mapper, batch.height, columns)  # counted before mapping
            good, bad = mapper.transform(batch)
            fr.rows_kept += good.height
            fr.rows_quarantined += bad.height
            if bad.height:
                self.quarantine.append(bad)
                checks.update(bad.get_column("check").to_list())
            if good.height:
                arrow = lake.to_arrow(good)
                if arrow.schema != self.arrow_schema:
                    arrow = arrow.cast(self.arrow_schema)
                yield from arrow.to_batches()
        if not columns:  # a 0-byte file has no header: nothing drifted, nothing to map
            fr.message = "empty file: no header and no rows"
        elif missing:
            fr.message = (
                f"file lacks mapped column(s) {sorted(missing)}; it has {columns}"
            )
        fr.by_check = dict(checks)
        self.aliases.append(mapper.tally.frame(self.src.name, ctx.file))

    def quarantine_frame(self) -> pl.DataFrame:
        """Every quarantine row of the files read so far."""
        return pl.concat(self.quarantine) if self.quarantine else canonical.empty_quarantine()

    def alias_frame(self) -> pl.DataFrame:
        """The alias tallies of the files read so far."""
        return pl.concat(self.aliases) if self.aliases else pl.DataFrame(schema=ALIAS_SCHEMA)


def _guarded(
    batches: Iterator[pl.DataFrame],
    fr: FileResult,
    ctx: FileContext,
    quarantine: list[pl.DataFrame],
    checks: Counter[str],
) -> Iterator[pl.DataFrame]:
    """``batches``; a file that turns out unreadable part-way is marked failed and quarantined
    (its rows read so far stay counted) instead of aborting the whole run."""
    try:
        yield from batches
    except readers.ReaderError as e:
        fr.status, fr.message = "failed", str(e)
        quarantine.append(_file_problem(ctx, "unreadable_file", None, str(e)))
        fr.rows_quarantined += 1
        checks.update({"unreadable_file": 1})


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
        attrs = ("time_column", "batch_column", "offset_column", "variable_column")
        keys = {getattr(spec, a, None) for a in attrs}
        return mapper.tag_columns(columns, {k for k in keys if k})
    return None


def _units(mapper: Mapper, rows: int, columns: list[str]) -> int:
    """Rows of a wide or batch file count once per tag cell; other files once per row."""
    tags = _reshaped_tags(mapper, columns)
    return rows * len(tags) if tags is not None else rows
