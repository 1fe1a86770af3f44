"""The per-file ledger of a source: what a run has to do (size and mtime, then sha256), the results
of a run written back, and the conservation counts checked against it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from corpusmill import lake, readers
from corpusmill.config import Source, SourcesConfig
from corpusmill.ingest.files import _stat, resolve_files, source_hash
from corpusmill.ingest.formats import _read_sidecar
from corpusmill.ingest.parts import in_part, ledger_in_part
from corpusmill.layout import Lake
from corpusmill.storage import Where

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
    lake_root: Where,
    *,
    force: bool = False,
    storage_options: dict | None = None,
    while_hashing: Callable[[list[str]], None] | None = None,
    part: str | None = None,
) -> FilePlan:
    """Compare a source's files with its ledger: size and mtime first, sha256 only on a change.

    ``while_hashing(files)`` is called with the files that need a checksum, in this thread while
    a worker thread computes them (hashlib releases the GIL), so a caller can start reading them.
    ``part`` limits the plan to the files of one part of a split source (see
    :mod:`corpusmill.ingest.parts`): its current files and its files the ledger knows.
    """
    files = in_part(cfg, src, resolve_files(cfg, src, storage_options=storage_options), part)
    ledger = lake.read(Lake(lake_root).ledger(src.name), schema=LEDGER_SCHEMA)
    sidecar = _read_sidecar(cfg, src, storage_options) if src.format == "images" else None
    shash = source_hash(cfg, src, extra=sidecar[1] if sidecar else "")
    known = set(ledger_in_part(cfg, src, ledger["_file"].to_list(), part))
    previous = {r["_file"]: r for r in ledger.iter_rows(named=True) if r["_file"] in known}
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
    cfg: SourcesConfig, src: Source, lake_root: Where, *, storage_options: dict | None = None
) -> dict[str, str]:
    """New, changed and removed files of a source: file -> sha256 (or "removed")."""
    plan = plan_files(cfg, src, lake_root, storage_options=storage_options)
    out = {fr.file: fr.sha256 or "" for fr in plan.todo}
    out.update({f: "removed" for f in plan.removed})
    return out


def _unchanged(prev: dict[str, Any], mtime_ns: int) -> FileResult:
    return FileResult(
        prev["_file"], prev["sha256"], prev["size"], mtime_ns, "unchanged",
        encoding=prev["encoding"], units_in=prev["units_in"], rows_kept=prev["rows_kept"],
        rows_quarantined=prev["rows_quarantined"], duplicate_of=prev["duplicate_of"],
        message=prev["message"],
    )  # fmt: skip


def _write_ledger(
    lake_root: Where, source: str, results: list[FileResult], shash: str, run_id: str,
    previous: dict[str, dict[str, Any]], *, only: list[str] | None = None,
) -> None:  # fmt: skip
    """Write a run's ledger rows: the whole ledger, or with ``only`` (the files of one part, current
    and removed) just those files' rows, so parts written at the same time keep each other's."""
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
    if only is not None:
        mine = old.filter(pl.col("_file").is_in(only))
        if lake.exists(path) and new.sort("_file").equals(mine.sort("_file")):
            return  # nothing changed in this part: no new version
        lake.replace_rows(path, new, where={"_file": only})
        return
    if lake.exists(path) and new.sort("_file").equals(old.sort("_file")):
        return  # nothing changed: no new version
    lake.overwrite(path, new)


def conservation(
    lake_root: Where, source: str, *, files: Mapping[str, str] | None = None
) -> dict[str, int]:
    """Units the readers delivered (from the ledger) against rows actually committed to the lake.

    For every source, ``units_in == rows_kept + rows_quarantined`` must hold; a mismatch means rows
    were lost or duplicated between reading and writing. ``files`` (ledger file -> the ``_file``
    its rows carry) counts only those files: one part of a split source.
    """
    at = Lake(lake_root)
    ledger = lake.read(at.ledger(source), schema=LEDGER_SCHEMA)
    if files is not None:
        ledger = ledger.filter(pl.col("_file").is_in(list(files)))
    units_in = int(ledger.filter(pl.col("status") != "duplicate")["units_in"].sum() or 0)
    failed = int(ledger.filter(pl.col("status") == "failed").height)

    def count(path: Where) -> int:
        if not lake.exists(path):
            return 0
        rows = lake.scan(path)
        if files is not None:
            rows = rows.filter(pl.col("_file").is_in(list(files.values())))
        return rows.select(pl.len()).collect().item()

    return {
        "units_in": units_in + failed,  # an unreadable file is one quarantine row
        "rows_kept": count(at.staged(source)),
        "rows_quarantined": count(at.quarantine("ingest", source)),
    }
