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
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from corpusmill.faults import crash_point
from corpusmill.storage import storage_options

if TYPE_CHECKING:
    from deltalake import DeltaTable


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
) -> int:
    """Replace the rows matching ``where`` with ``data`` in one commit; create the table if needed.

    ``data`` may be a stream (``pa.RecordBatchReader``) so large inputs never sit in memory.
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
                            storage_options=opts)  # fmt: skip
        except CommitFailedError:
            # another writer created the table first (both saw none): replace within it
            # (a stream already consumed cannot be written again)
            if isinstance(arrow, pa.RecordBatchReader) or not exists(path):
                raise
            replace()
    crash_point("lake.write.after", path)
    return open_table(path).version()


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
        storage_options=storage_options(str(path)),
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
