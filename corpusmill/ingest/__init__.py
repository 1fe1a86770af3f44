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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from corpusmill import canonical, lake, readers
from corpusmill.layout import Lake
from corpusmill.config import DOCUMENT_FORMATS, Source, SourcesConfig
from corpusmill.ingest.files import (
    IMAGE_SUFFIXES,
    IngestError,
    _stat,
    resolve_files,
    source_hash,
)
from corpusmill.ingest.formats import BATCH_ROWS, _open, _read_sidecar
from corpusmill.ingest.quarantine import _file_problem, _missing_columns, _rejects_to_quarantine
from corpusmill.mapping import ALIAS_SCHEMA, FileContext, Mapper, MappingError


LEDGER_SCHEMA = pl.Schema(
    {
        "_source": pl.String, "_file": pl.String, "sha256": pl.String, "size": pl.Int64,
        "mtime_ns": pl.Int64, "source_hash": pl.String, "status": pl.String,
        "encoding": pl.String, "units_in": pl.Int64, "rows_kept": pl.Int64,
        "rows_quarantined": pl.Int64, "duplicate_of": pl.String, "message": pl.String,
        "_run_id": pl.String, "ingested_at": pl.String,
    }
)  # fmt: skip


@dataclass
class FileResult:
    file: str
    sha256: str | None
    size: int
    mtime_ns: int
    status: str  # ingested | unchanged | duplicate | failed
    encoding: str | None = None
    units_in: int = 0
    rows_kept: int = 0
    rows_quarantined: int = 0
    by_check: dict[str, int] = field(default_factory=dict)
    duplicate_of: str | None = None
    message: str | None = None


@dataclass
class SourceResult:
    source: str
    table: str
    files: list[FileResult]
    removed: list[str]
    seconds: float = 0.0

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files if f.status == "ingested")

    @property
    def by_check(self) -> dict[str, int]:
        c: Counter[str] = Counter()
        for f in self.files:
            c.update(f.by_check)
        return dict(sorted(c.items()))

    def summary(self) -> dict[str, Any]:
        statuses = Counter(f.status for f in self.files)
        return {
            "source": self.source,
            "table": self.table,
            "files": len(self.files),
            "files_by_status": dict(sorted(statuses.items())),
            "files_removed": len(self.removed),
            "units_in": self.total("units_in"),
            "rows_kept": self.total("rows_kept"),
            "rows_quarantined": self.total("rows_quarantined"),
            "quarantined_by_check": self.by_check,
            "seconds": round(self.seconds, 3),
        }


# -- ingest -----------------------------------------------------------------------------------


@dataclass
class FilePlan:
    """What a run of one source has to do, file by file."""

    results: list[FileResult]  # every current file, with its status
    todo: list[FileResult]  # the files to read (new or changed)
    removed: list[str]  # files in the ledger that are gone
    source_hash: str
    previous: dict[str, dict[str, Any]]
    sidecar: tuple[pl.DataFrame, str] | None


def plan_files(
    cfg: SourcesConfig,
    src: Source,
    lake_root: Path,
    *,
    force: bool = False,
    storage_options: dict | None = None,
    while_hashing: Callable[[list[str]], None] | None = None,
) -> FilePlan:
    """Compare a source's files with its ledger: size and mtime first, sha256 only on a change.

    ``while_hashing(files)`` is called with the files that need a checksum, in this thread while
    a worker thread computes them (hashlib releases the GIL), so a caller can start reading them.
    """
    files = resolve_files(cfg, src, storage_options=storage_options)
    ledger = lake.read(Lake(lake_root).ledger(src.name), schema=LEDGER_SCHEMA)
    sidecar = _read_sidecar(cfg, src, storage_options) if src.format == "images" else None
    shash = source_hash(cfg, src, extra=sidecar[1] if sidecar else "")
    previous = {r["_file"]: r for r in ledger.iter_rows(named=True)}
    removed = sorted(set(previous) - set(files))
    # Pass 1: which files are unchanged since the ledger (size and mtime, else sha256).
    stats = {f: _stat(f, storage_options) for f in files}
    fresh: dict[str, bool] = {}  # file -> its ledger entry is for this config
    need: list[str] = []
    for f, (size, mtime) in stats.items():
        prev = previous.get(f)
        fresh[f] = prev is not None and prev["source_hash"] == shash and not force
        if not (fresh[f] and prev["size"] == size and prev["mtime_ns"] == mtime):
            need.append(f)
    shas = _checksums(need, storage_options, while_hashing)
    entries: list[tuple[str, int, int, str, dict[str, Any] | None, bool]] = []
    for f, (size, mtime) in stats.items():
        prev = previous.get(f)
        if f not in shas:
            entries.append((f, size, mtime, prev["sha256"], prev, True))
        else:
            sha = shas[f]
            entries.append((f, size, mtime, sha, prev, fresh[f] and prev["sha256"] == sha))
    # Pass 2: content already in the lake is not ingested twice. Only unchanged, ingested files
    # vouch for their content: a duplicate whose original changed or went away is ingested itself.
    seen_sha: dict[str, str] = {}
    for f, _size, _mtime, sha, prev, unchanged in entries:
        if unchanged and prev["status"] == "ingested":
            seen_sha.setdefault(sha, f)
    results: list[FileResult] = []
    todo: list[FileResult] = []
    for f, size, mtime, sha, prev, unchanged in entries:
        if unchanged and prev["status"] != "duplicate":
            results.append(_unchanged(prev, mtime))
            continue
        dup = seen_sha.get(sha)
        if dup is not None and dup != f:
            if unchanged and prev["duplicate_of"] == dup:
                results.append(_unchanged(prev, mtime))
            else:
                results.append(
                    FileResult(f, sha, size, mtime, "duplicate", duplicate_of=dup,
                               message=f"same content as {dup}; not ingested twice")
                )  # fmt: skip
            continue
        seen_sha[sha] = f
        fr = FileResult(f, sha, size, mtime, "ingested")
        results.append(fr)
        todo.append(fr)
    return FilePlan(results, todo, removed, shash, previous, sidecar)


def _checksums(
    files: list[str],
    storage_options: dict | None,
    meanwhile: Callable[[list[str]], None] | None,
) -> dict[str, str]:
    if not files:
        return {}
    if meanwhile is None:
        return {f: readers.sha256_file(f, storage_options=storage_options) for f in files}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="corpusmill-sha256") as pool:
        futures = {f: pool.submit(readers.sha256_file, f, storage_options=storage_options)
                   for f in files}  # fmt: skip
        meanwhile(files)
        return {f: fut.result() for f, fut in futures.items()}


def pending_files(
    cfg: SourcesConfig, src: Source, lake_root: Path, *, storage_options: dict | None = None
) -> dict[str, str]:
    """New, changed and removed files of a source: file -> sha256 (or "removed")."""
    plan = plan_files(cfg, src, Path(lake_root), storage_options=storage_options)
    out = {fr.file: fr.sha256 or "" for fr in plan.todo}
    out.update({f: "removed" for f in plan.removed})
    return out


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


def _unchanged(prev: dict[str, Any], mtime_ns: int) -> FileResult:
    return FileResult(
        prev["_file"], prev["sha256"], prev["size"], mtime_ns, "unchanged",
        encoding=prev["encoding"], units_in=prev["units_in"], rows_kept=prev["rows_kept"],
        rows_quarantined=prev["rows_quarantined"], duplicate_of=prev["duplicate_of"],
        message=prev["message"],
    )  # fmt: skip


def _write_ledger(
    lake_root: Path, source: str, results: list[FileResult], shash: str, run_id: str,
    previous: dict[str, dict[str, Any]],
) -> None:  # fmt: skip
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rows = []
    for r in results:
        prev = previous.get(r.file)
        fresh = r.status != "unchanged"
        rows.append(
            {
                "_source": source, "_file": r.file, "sha256": r.sha256, "size": r.size,
                "mtime_ns": r.mtime_ns, "source_hash": shash,
                # an unchanged file keeps the status it had: ingested, failed or duplicate
                "status": prev["status"] if r.status == "unchanged" and prev else r.status,
                "encoding": r.encoding, "units_in": r.units_in, "rows_kept": r.rows_kept,
                "rows_quarantined": r.rows_quarantined, "duplicate_of": r.duplicate_of,
                "message": r.message,
                "_run_id": run_id if fresh or prev is None else prev["_run_id"],
                "ingested_at": now if fresh or prev is None else prev["ingested_at"],
            }
        )  # fmt: skip
    new = pl.DataFrame(rows, schema=LEDGER_SCHEMA)
    path = Lake(lake_root).ledger(source)
    old = lake.read(path, schema=LEDGER_SCHEMA)
    if lake.exists(path) and new.sort("_file").equals(old.sort("_file")):
        return  # nothing changed: no new version
    lake.overwrite(path, new)


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


def conservation(lake_root: Path, source: str) -> dict[str, int]:
    """Units the readers delivered (from the ledger) against rows actually committed to the lake.

    For every source, ``units_in == rows_kept + rows_quarantined`` must hold; a mismatch means rows
    were lost or duplicated between reading and writing.
    """
    at = Lake(lake_root)
    ledger = lake.read(at.ledger(source), schema=LEDGER_SCHEMA)
    units_in = int(ledger.filter(pl.col("status") != "duplicate")["units_in"].sum() or 0)
    failed = int(ledger.filter(pl.col("status") == "failed").height)

    def count(path: Path) -> int:
        return lake.scan(path).select(pl.len()).collect().item() if lake.exists(path) else 0

    return {
        "units_in": units_in + failed,  # an unreadable file is one quarantine row
        "rows_kept": count(at.staged(source)),
        "rows_quarantined": count(at.quarantine("ingest", source)),
    }
