"""Delta Lake helpers: idempotent writes, versions with manifests, and file lists for DuckDB.

Tables are plain Delta tables written with ``deltalake`` (no Delta partition columns: every Parquet
file carries every column, so DuckDB can read the files of any version directly). Idempotence comes
from predicate overwrites: a writer replaces exactly the rows it owns (one source, or one file of one
source) in a single Delta commit, so a rerun leaves the table as it was.

A path is a local folder or an object-storage URI (see :mod:`corpusmill.storage`); the storage
options (credentials, endpoint) are taken from the environment on every call.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from corpusmill.faults import crash_point
from corpusmill.storage import storage_options

if TYPE_CHECKING:
    from deltalake import DeltaTable


def writer_properties(indexed: Collection[str] | None = None) -> Any:
    """The Parquet settings of every write: Snappy (delta-rs's own default), ``_row`` (the row
    number every canonical and quarantine row carries) delta-encoded, and min/max statistics
    only where a read can skip files by them.

    ``_row`` counts up within a file, so it never repeats: dictionary encoding (the default)
    hashes every value and then falls back to plain, which made it the largest column of a
    staged table (40 of 100 MiB for 10 M readings) and one of the slowest to write. Delta
    encoding stores the steps instead.

    Keeping a minimum and a maximum of every string was a tenth of the writer's CPU. With
    ``indexed`` None every column keeps its statistics but the provenance columns a file holds
    one value of (:data:`UNINDEXED`; rows are replaced by ``_file``); otherwise only the
    ``indexed`` columns keep theirs. A column the table lacks is ignored.
    """
    from deltalake import ColumnProperties, WriterProperties

    bare = ColumnProperties(statistics_enabled="NONE")
    kept = ColumnProperties(statistics_enabled="PAGE")
    if indexed is None:
        default, columns, row_stats = None, dict.fromkeys(UNINDEXED, bare), None
    else:
        default, columns = bare, dict.fromkeys(indexed, kept)
        row_stats = "PAGE" if "_row" in indexed else "NONE"
    columns["_row"] = ColumnProperties(dictionary_enabled=False, encoding="DELTA_BINARY_PACKED",
                                       statistics_enabled=row_stats)  # fmt: skip
    return WriterProperties(compression="SNAPPY", default_column_properties=default,
                            column_properties=columns)  # fmt: skip


#: Columns written without statistics by default (see :func:`writer_properties`).
UNINDEXED = ("_source", "_file_sha256", "_run_id")


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def predicate_for(column_values: Mapping[str, str | Iterable[str]]) -> str:
    """A Delta SQL predicate matching rows whose columns equal (or are in) the given values."""
    parts = []
    for col, val in column_values.items():
        if isinstance(val, str):
            parts.append(f"{col} = {_sql_str(val)}")
        else:
            vals = sorted(set(val))
            if not vals:
                return "false"
            parts.append(f"{col} IN ({', '.join(_sql_str(v) for v in vals)})")
    return " AND ".join(parts) if parts else "true"


def exists(path: str | Path) -> bool:
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(str(path), storage_options=storage_options(str(path)))


def open_table(path: str | Path, version: int | None = None) -> DeltaTable:
    from deltalake import DeltaTable

    return DeltaTable(str(path), version=version, storage_options=storage_options(str(path)))


def replace_rows(
    path: str | Path,
    data: pl.DataFrame | pa.Table | pa.RecordBatchReader,
    *,
    where: Mapping[str, str | Iterable[str]],
    schema: pl.Schema | None = None,
    metadata: Mapping[str, str] | None = None,
    indexed: Collection[str] | None = None,
) -> int:
    """Replace the rows matching ``where`` with ``data`` in one commit; create the table if needed.

    ``data`` may be a stream (``pa.RecordBatchReader``) so large inputs never sit in memory.
    ``indexed``: the columns whose statistics reads use (see :func:`writer_properties`).
    Returns the table version written.
    """
    from deltalake import CommitProperties, write_deltalake

    arrow = _to_arrow(data, schema)
    props = CommitProperties(custom_metadata=dict(metadata)) if metadata else None
    path = str(path)
    crash_point("lake.write.before", path)
    from deltalake.exceptions import CommitFailedError

    opts = storage_options(path)

    def replace() -> None:
        # a commit lost to a concurrent writer (a table just created, another predicate write)
        # is tried again on the new version; a stream already consumed cannot be written again
        for attempt in range(1, _COMMIT_ATTEMPTS + 1):
            try:
                write_deltalake(path, arrow, mode="overwrite", predicate=predicate_for(where),
                                schema_mode=None, commit_properties=props,
                                writer_properties=writer_properties(indexed),
                                storage_options=opts)  # fmt: skip
                return
            except CommitFailedError:
                if isinstance(arrow, pa.RecordBatchReader) or attempt == _COMMIT_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0.02, 0.1) * 2**attempt)  # jitter, not crypto

    if exists(path):
        replace()
    else:
        try:
            write_deltalake(path, arrow, mode="append", commit_properties=props,
                            writer_properties=writer_properties(indexed),
                            storage_options=opts)  # fmt: skip
        except CommitFailedError:
            # another writer created the table first (both saw none): replace within it
            # (a stream already consumed cannot be written again)
            if isinstance(arrow, pa.RecordBatchReader) or not exists(path):
                raise
            replace()
    crash_point("lake.write.after", path)
    return open_table(path).version()


def replace_rows_parallel(
    path: str | Path,
    batches: Iterable[pa.RecordBatch],
    *,
    schema: pa.Schema,
    where: Mapping[str, str | Iterable[str]],
    writers: int,
    metadata: Mapping[str, str] | None = None,
    indexed: Collection[str] | None = None,
) -> int:
    """:func:`replace_rows` of a stream of batches, encoded by up to ``writers`` Parquet writers at
    once and committed in ONE Delta commit; returns the table version written.

    delta-rs encodes the Parquet files of one ``write_deltalake`` in one thread; a wide stream
    waits on it. Here each writer thread is a ``write_deltalake`` of its share of the batches into
    a scratch table in a folder inside the table (``_SCRATCH-<uuid>/w<k>``); the files they wrote
    (with the statistics delta-rs computed) are then committed to the table in one transaction
    that also removes the rows matching ``where`` (a file holding other rows too is rewritten with
    those rows, as delta-rs's predicate overwrite does). A second writer starts only when batches
    wait for the first (a small stream writes one file, as before). Until the commit nothing is
    visible; a run that fails removes its scratch folder, and one killed leaves files no commit
    references (as a killed ``write_deltalake`` does), which ``vacuum`` sweeps.
    ``writers <= 1`` or a table whose schema differs is :func:`replace_rows` itself.
    """
    import queue
    import threading
    import uuid

    from deltalake import CommitProperties, write_deltalake
    from deltalake import Schema as DeltaSchema
    from deltalake.exceptions import CommitFailedError
    from deltalake.transaction import RemoveAction, create_table_with_add_actions

    path = str(path)
    table = open_table(path) if exists(path) else None
    if writers <= 1 or (table is not None and table.schema().to_arrow() != DeltaSchema.from_arrow(
            schema).to_arrow()):  # fmt: skip
        reader = pa.RecordBatchReader.from_batches(schema, iter(batches))
        return replace_rows(path, reader, where=where, metadata=metadata, indexed=indexed)
    crash_point("lake.write.before", path)
    opts = storage_options(path)
    scratch = f"{_SCRATCH}-{uuid.uuid4().hex}"
    removes, keep = _matching_files(path, table, where) if table is not None else ([], [])
    q: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=2)
    stop = threading.Event()
    errors: list[BaseException] = []
    threads: list[threading.Thread] = []

    def take() -> Iterator[pa.RecordBatch]:
        while not stop.is_set():
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is None:
                return
            yield item
        raise RuntimeError("write stopped")  # a sibling writer or the stream failed

    def write(k: int) -> None:
        try:
            reader = pa.RecordBatchReader.from_batches(schema, take())
            write_deltalake(join_uri(path, scratch, f"w{k}"), reader, mode="append",
                            writer_properties=writer_properties(indexed),
                            storage_options=opts)  # fmt: skip
        except BaseException as e:  # noqa: BLE001 - re-raised by the caller
            errors.append(e)
            stop.set()

    def start() -> None:
        t = threading.Thread(target=write, args=(len(threads),), daemon=True,
                             name=f"corpusmill-delta-writer-{len(threads)}")  # fmt: skip
        threads.append(t)
        t.start()

    def put(item: pa.RecordBatch | None) -> None:
        if len(threads) < writers:
            try:
                q.put_nowait(item)
                return
            except queue.Full:
                start()  # batches are waiting for the writers: one more
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    start()
    try:
        try:
            for batch in _chain(_kept_rows(keep, where, schema), batches):
                if stop.is_set():
                    break
                if batch.num_rows:
                    put(batch)
        finally:
            for _ in threads:
                put(None)
            for t in threads:
                t.join()
        if errors:
            raise errors[0]
        adds = [a for k in range(len(threads)) for a in _scratch_adds(path, scratch, f"w{k}")]
        props = CommitProperties(custom_metadata=dict(metadata)) if metadata else None
        if table is None:
            try:
                create_table_with_add_actions(path, DeltaSchema.from_arrow(schema), adds,
                                              mode="append", partition_by=[],
                                              commit_properties=props, storage_options=opts)  # fmt: skip
            except Exception as e:
                if not exists(path):
                    raise
                # another writer created the table first: commit into it (a rewrite would need
                # the stream again, so a file to rewrite fails the commit and the caller retries)
                table = open_table(path)
                removes, keep = _matching_files(path, table, where)
                if keep:
                    raise CommitFailedError(f"{path}: created concurrently ({e})") from e
        if table is not None:
            stamp = int(time.time() * 1000)
            gone = [RemoveAction(p, True, stamp, size) for p, size in removes]
            table.create_write_transaction([*adds, *gone], mode="append", schema=table.schema(),
                                           commit_properties=props)  # fmt: skip
    except BaseException:
        _remove_tree(join_uri(path, scratch))
        raise
    for k in range(len(threads)):
        _remove_tree(join_uri(path, scratch, f"w{k}", "_delta_log"))
    crash_point("lake.write.after", path)
    return open_table(path).version()


#: Folder (inside a table) of the scratch tables :func:`replace_rows_parallel` writes files into.
_SCRATCH = "corpusmill-write"


def join_uri(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def _chain(*its: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for it in its:
        yield from it


def _matching_files(
    path: str, table: DeltaTable, where: Mapping[str, str | Iterable[str]]
) -> tuple[list[tuple[str, int]], list[str]]:
    """The active files holding rows that match ``where``: (every such file as (path, size) to
    remove, those of them that also hold other rows, whose other rows are written again)."""
    import pyarrow.compute as pc

    actions = pa.table(table.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return [], []
    rel = actions.column("path").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    stats = _file_ranges(actions, where)
    removes, keep = [], []
    for i, (p, size, uri) in enumerate(zip(rel, sizes, _uris_of(path, rel))):
        if stats is not None:
            lo, hi, vals = stats[0][i], stats[1][i], stats[2]
            if lo is not None and hi is not None:
                if not any(lo <= v <= hi for v in vals):
                    continue  # no value of the predicate lies in this file's range
                if lo == hi:  # the file holds one value only, and it matches
                    removes.append((p, size))
                    continue
        rows = _read_columns(uri, list(where))
        hit = _where_mask(rows, where)
        n = pc.sum(hit).as_py() or 0
        if n:
            removes.append((p, size))
            if n < rows.num_rows:
                keep.append(uri)
    return removes, keep


def _file_ranges(
    actions: pa.Table, where: Mapping[str, str | Iterable[str]]
) -> tuple[list[Any], list[Any], list[str]] | None:
    """(min per file, max per file, the values) of a one-column ``where`` from the files'
    statistics; None when there is no such statistic (every file is then read)."""
    if len(where) != 1:
        return None
    ((col, val),) = where.items()
    names = (f"min.{col}", f"max.{col}")
    if not all(n in actions.column_names for n in names):
        return None
    vals = [val] if isinstance(val, str) else sorted(set(val))
    return (actions.column(names[0]).to_pylist(), actions.column(names[1]).to_pylist(), vals)


def _uris_of(path: str, rel: list[str]) -> list[str]:
    from urllib.parse import unquote

    return [join_uri(path, unquote(p)) for p in rel]


def _read_columns(uri: str, columns: list[str], filt: Any = None) -> pa.Table:
    import pyarrow.parquet as pq

    from corpusmill import storage

    fs, _ = storage.filesystem(uri)
    return pq.read_table(storage.fs_path(uri) if storage.is_remote(uri) else uri, columns=columns,
                         filesystem=fs, filters=filt)  # fmt: skip


def _where_mask(rows: pa.Table, where: Mapping[str, str | Iterable[str]]) -> pa.ChunkedArray:
    import pyarrow.compute as pc

    mask = None
    for col, val in where.items():
        vals = [val] if isinstance(val, str) else sorted(set(val))
        column = rows.column(col).cast(pa.string())  # files read back as string_view
        m = pc.fill_null(pc.is_in(column, value_set=pa.array(vals, pa.string())), False)
        mask = m if mask is None else pc.and_(mask, m)
    return mask if mask is not None else pa.chunked_array([pa.array([True] * rows.num_rows)])


def _kept_rows(
    uris: list[str], where: Mapping[str, str | Iterable[str]], schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """The rows of ``uris`` that do not match ``where`` (written again by a rewrite)."""
    for uri in uris:
        rows = pl.from_arrow(_read_columns(uri, schema.names))
        assert isinstance(rows, pl.DataFrame)
        hit = pl.Series(_where_mask(rows.to_arrow(), where))
        yield from to_arrow(rows.filter(~hit)).cast(schema).to_batches()


def _scratch_adds(path: str, scratch: str, name: str) -> list[Any]:
    """The add actions of a scratch table's commit, with paths relative to the table ``path``."""
    from deltalake.transaction import AddAction

    from corpusmill import storage

    log = join_uri(path, scratch, name, "_delta_log", f"{0:020d}.json")
    if not storage.exists(log):
        return []
    adds = []
    for line in storage.read_text(log).splitlines():
        a = json.loads(line).get("add") if line.strip() else None
        if a:
            adds.append(AddAction(f"{scratch}/{name}/{a['path']}", a["size"],
                                  a.get("partitionValues") or {}, a["modificationTime"], True,
                                  a.get("stats") or ""))  # fmt: skip
    return adds


def _remove_tree(uri: str) -> None:
    from corpusmill import storage

    fs, p = storage.filesystem(uri)
    try:
        fs.delete_dir(p)
    except (FileNotFoundError, OSError):
        pass


def delete_rows(path: str | Path, *, where: Mapping[str, str | Iterable[str]]) -> int:
    """Delete rows matching ``where``; returns the number deleted (0 when there is no table)."""
    if not exists(path):
        return 0
    metrics = open_table(path).delete(predicate_for(where))
    return int(metrics.get("num_deleted_rows", 0) or 0)


def overwrite(
    path: str | Path,
    data: pl.DataFrame | pa.Table | pa.RecordBatchReader,
    *,
    schema: pl.Schema | None = None,
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Replace the whole table; returns the version holding ``data``.

    A frame equal (same schema, same rows in any order) to what the latest commit wrote is not
    written again with the same ``metadata``: the latest version is returned and no commit is
    made, so a rerun that changes nothing leaves the table's history alone. Columns in
    :data:`RUN_STAMPS` (the run that wrote a row) do not count as a change: rows found again by a
    later run keep the stamp of the run that first wrote them. The comparison uses a fingerprint
    stored in each commit's metadata, so it costs one hash of ``data`` and no read of the table.
    """
    if isinstance(data, pl.DataFrame) and schema is not None:
        data = data.select([pl.col(c).cast(t) for c, t in schema.items()])
    arrow = _to_arrow(data, None)
    if not isinstance(data, pl.DataFrame):  # an Arrow table or stream: always written
        return _overwrite_unless_same(path, arrow, dict(metadata or {}), None)
    stable = data.drop(RUN_STAMPS, strict=False)
    return _overwrite_unless_same(path, arrow, dict(metadata or {}), fingerprint(stable))


def overwrite_batches(
    path: str | Path,
    batches: Iterable[pl.DataFrame],
    *,
    schema: pl.Schema,
    fingerprint: str,
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Replace the whole table with a stream of frames (cast to ``schema``); returns the version.

    The streaming counterpart of :func:`overwrite` for tables too large to hold at once: the
    caller passes the ``fingerprint`` of the content (computed as it likes, e.g. per bucket,
    without the :data:`RUN_STAMPS` columns) and a commit with the same fingerprint and
    ``metadata`` is not repeated; ``batches`` is then not consumed at all.
    """
    arrow_schema = to_arrow(pl.DataFrame(schema=schema)).schema

    def record_batches() -> Iterable[pa.RecordBatch]:
        for df in batches:
            if df.height:
                cast = df.select([pl.col(c).cast(t) for c, t in schema.items()])
                yield from to_arrow(cast).cast(arrow_schema).to_batches()

    reader = pa.RecordBatchReader.from_batches(arrow_schema, record_batches())
    return _overwrite_unless_same(path, reader, dict(metadata or {}), fingerprint)


def _overwrite_unless_same(
    path: str | Path,
    arrow: pa.Table | pa.RecordBatchReader,
    custom: dict[str, str],
    content: str | None,
) -> int:
    """Overwrite the table with ``arrow`` and commit metadata ``custom``, unless the latest commit
    carries the same fingerprint of ``content`` and ``custom`` (``content`` None: always write).
    The commit metadata is part of what "unchanged" means (a corpus version's manifest)."""
    from deltalake import CommitProperties, write_deltalake

    if content is not None:
        custom[FINGERPRINT_KEY] = json_hash([content, custom])
        if exists(path):
            table = open_table(path)
            last = table.history(limit=1)
            if last and last[0].get(FINGERPRINT_KEY) == custom[FINGERPRINT_KEY]:
                return table.version()
    crash_point("lake.write.before", path)
    write_deltalake(
        str(path), arrow, mode="overwrite", schema_mode="overwrite",
        commit_properties=CommitProperties(custom_metadata=custom) if custom else None,
        writer_properties=writer_properties(), storage_options=storage_options(str(path)),
    )  # fmt: skip
    crash_point("lake.write.after", path)
    return open_table(path).version()


#: Tries of a predicate write whose commit a concurrent writer won.
_COMMIT_ATTEMPTS = 5

#: Columns that stamp the writing run; a frame differing only in them is unchanged.
RUN_STAMPS = ("_run_id",)

#: Commit metadata key holding the fingerprint of the frame an overwrite wrote.
FINGERPRINT_KEY = "corpusmill.fingerprint"


def fingerprint(df: pl.DataFrame) -> str:
    """A sha256 of a frame's schema and rows that ignores row order (for "unchanged?" tests).

    Each row gets two 64-bit polars row hashes (two seeds) and the pairs are sorted, so the same
    rows in another order give the same fingerprint; a different schema (names or types) never
    does. Polars' row hash is stable only within a polars version, so the version is part of the
    digest: after an upgrade the first overwrite writes once more.
    """
    h = hashlib.sha256(f"{pl.__version__}|{list(df.schema.items())!r}|{df.height}".encode())
    if df.height and df.width:
        pairs = pl.DataFrame({"a": df.hash_rows(seed=0), "b": df.hash_rows(seed=1)}).sort("a", "b")
        h.update(pairs.to_numpy().tobytes())
    return h.hexdigest()


def read(
    path: str | Path, *, version: int | None = None, schema: pl.Schema | None = None
) -> pl.DataFrame:
    """Read a table (a version of it) into polars; an absent table reads as empty ``schema``."""
    if not exists(path):
        if schema is None:
            msg = f"{path}: no Delta table there (has the asset that writes it been materialized?)"
            raise FileNotFoundError(msg)
        return pl.DataFrame(schema=schema)
    return pl.read_delta(str(path), version=version, storage_options=storage_options(str(path)))


def scan(path: str | Path, *, version: int | None = None) -> pl.LazyFrame:
    return pl.scan_delta(str(path), version=version, storage_options=storage_options(str(path)))


def slices(lf: pl.LazyFrame, rows: int, *, total: int) -> Iterator[pl.DataFrame]:
    """The ``total`` rows of ``lf`` in order, ``rows`` at a time, each slice collected only when
    the consumer asks for the next.

    Warnings
    --------
    Not ``LazyFrame.collect_batches``: polars runs that query ahead of a slower consumer and
    buffers what it has not yet handed on without bound (a Delta write fed from it held 3.3 GiB
    of a 52 M-row table; fed by slices, 0.9 GiB). A slice of a Parquet or Delta scan reads only
    the row groups it covers.
    """
    for offset in range(0, total, rows):
        yield lf.slice(offset, rows).collect()


def files(path: str | Path, *, version: int | None = None) -> list[str]:
    """The Parquet files that make up a version: absolute local paths (for DuckDB's
    read_parquet), or ``s3://`` URIs for a lake on object storage."""
    uris = open_table(path, version).file_uris()
    return [u.removeprefix("file://") for u in uris]


def history(path: str | Path) -> list[dict[str, Any]]:
    """Commit history, oldest first, with each commit's version and custom metadata."""
    if not exists(path):
        return []
    return sorted(open_table(path).history(), key=lambda c: c.get("version", 0))


def content_hash(df: pl.DataFrame, *, sort_by: list[str] | None = None) -> str:
    """A sha256 of a frame's content: the same rows and schema give the same hash."""
    if sort_by:
        df = df.sort(sort_by, nulls_last=True, maintain_order=True)
    buf = io.BytesIO()
    df.rechunk().write_ipc(buf, compression="uncompressed")
    return hashlib.sha256(buf.getvalue()).hexdigest()


def json_hash(obj: Any) -> str:
    """A sha256 of a JSON-serialisable object (keys sorted), for config hashes."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def _to_arrow(
    data: pl.DataFrame | pa.Table | pa.RecordBatchReader, schema: pl.Schema | None
) -> pa.Table | pa.RecordBatchReader:
    if isinstance(data, pl.DataFrame):
        if schema is not None:
            data = data.select([pl.col(c).cast(t) for c, t in schema.items()])
        return to_arrow(data)
    return data


def to_arrow(df: pl.DataFrame) -> pa.Table:
    """``df`` as Arrow with polars' own string layout (``string_view``), which costs nothing.

    The default conversion copies every string into a ``large_string`` buffer: for the constant
    provenance columns of a 10M-row batch stream that copy alone took longer than the Parquet
    encoding. Delta stores either as ``string``.
    """
    return df.to_arrow(compat_level=pl.CompatLevel.newest())


def commit_fingerprint(path: str | Path, version: int) -> str | None:
    """The content fingerprint the commit of ``version`` carries (written by :func:`overwrite` or
    :func:`overwrite_batches`), or None (a commit made another way, or an absent table)."""
    if not exists(path):
        return None
    for entry in open_table(path).history():
        if entry.get("version") == version:
            return entry.get(FINGERPRINT_KEY)
    return None
