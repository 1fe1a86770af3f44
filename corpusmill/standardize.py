"""Standardize: one canonical table from every source's staged rows, and the equipment table.

Staged rows already carry SI units, UTC and registry equipment ids (the mapping does that while
streaming). What needs every source at once happens here: exact duplicates across files and
sources are quarantined (the first delivery is kept), and the equipment table gathers the registry
with every alias seen in any source.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from corpusmill import canonical, lake
from corpusmill.config import SourcesConfig, normalize_alias
from corpusmill.layout import EQUIPMENT_SUGGESTIONS, Lake
from corpusmill.mapping import ALIAS_SCHEMA

#: Rows per bucket of a large table: standardize holds about one bucket at a time.
BUCKET_ROWS = 1_000_000

#: Column holding a staged row's position in its source's staged table (bucketed path only).
_POS = "__pos"

#: Column holding a staged row's bucket while :func:`_bucket_frames` splits the table.
_BUCKET = "__bucket"


def _staged_parts(lake_root: Path, sources: list[str]) -> list[pl.LazyFrame]:
    """Each existing staged table of ``sources`` in ``sources`` order, each row tagged with its
    position in its own source's table (``_POS``), which together with ``_source`` names it."""
    paths = [Lake(lake_root).staged(s) for s in sources]
    return [lake.scan(p).with_row_index(_POS) for p in paths if lake.exists(p)]


def _ordered(df: pl.DataFrame, table: str, *, keep: tuple[str, ...] = ()) -> pl.DataFrame:
    """``df`` conformed to ``table`` (plus the ``keep`` columns) in (source, file, row) order."""
    out = canonical.conform(df, table)
    if keep:
        out = out.with_columns(df.select(keep))
    return out.sort("_source", "_file", "_row", maintain_order=True)


def _split(df: pl.DataFrame, table: str) -> pl.DataFrame:
    """``df`` with ``__i`` (row index), ``__first`` (index of the first delivery of the row's
    content) and the first delivery's ``__first_file`` / ``__first_row``."""
    key = [c for c in canonical.TABLES[table] if c != "content"]
    if table == "inspection_images":
        key = [c for c in key if c != "image_id"]
    indexed = df.with_row_index("__i")
    # A row whose content hash no other row shares has no duplicate, so only the rows sharing a
    # hash (few, in plant data) are grouped by their content; grouping and joining every row by
    # every column was most of standardize's time and memory. The hash agrees with group_by on
    # what is equal (nulls, NaN, -0.0), and a collision only makes a row a candidate.
    maybe = indexed.filter(pl.struct(key).hash(seed=0).is_duplicated())
    first = maybe.group_by(key, maintain_order=True).agg(
        pl.col("__i").first().alias("__first"),
        pl.col("_file").first().alias("__first_file"),
        pl.col("_row").first().alias("__first_row"),
    )
    firsts = maybe.join(first, on=key, how="left", nulls_equal=True, maintain_order="left")
    unique = pl.col("__first").is_null()  # the row is its own first delivery

    def own(col: str) -> pl.Expr:
        return pl.when(unique).then(pl.col(col)).otherwise(pl.col(f"__first{col}"))

    return indexed.join(
        firsts.select("__i", "__first", "__first_file", "__first_row"),
        on="__i", how="left", maintain_order="left",
    ).with_columns(
        pl.col("__first").fill_null(pl.col("__i")),
        own("_file").alias("__first_file"),
        own("_row").alias("__first_row"),
    )


def dedupe(df: pl.DataFrame, table: str, *, run_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split exact duplicates (equal in every canonical column) from first deliveries.

    Returns ``(kept, quarantine)``; each quarantined row names the row it duplicates.
    """
    joined = _split(df, table)
    is_dup = pl.col("__i") != pl.col("__first")
    kept = joined.filter(~is_dup).select(df.columns)
    return kept, _duplicate_rows(joined.filter(is_dup), table, run_id)


def _duplicate_rows(dups: pl.DataFrame, table: str, run_id: str) -> pl.DataFrame:
    return dups.select(
        "_source",
        "_file",
        "_row",
        pl.lit(None, pl.String).alias("column"),
        pl.lit(None, pl.String).alias("raw_value"),
        pl.format("exact duplicate of {} row {}", pl.col("__first_file"), pl.col("__first_row"))
        .alias("reason"),
        pl.lit("duplicate").alias("check"),
        pl.lit(run_id).alias("_run_id"),
        pl.lit(table).alias("table"),
        pl.lit("standardize").alias("stage"),
        "_file_sha256",
    ).cast(canonical.QUARANTINE)


def equipment_table(cfg: SourcesConfig, lake_root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The equipment table (registry + every alias seen) and the unknown aliases with suggestions.

    Unknown aliases are never merged into an equipment row: they are listed as suggestions for a
    person to confirm by adding them to the registry.
    """
    paths = [Lake(lake_root).aliases(s.name) for s in cfg.sources]
    seen = [lake.read(p, schema=ALIAS_SCHEMA) for p in paths if lake.exists(p)]
    aliases = pl.concat(seen) if seen else pl.DataFrame(schema=ALIAS_SCHEMA)
    rows = []
    for e in cfg.equipment:
        parts = e.id.split("/")
        mine = aliases.filter(pl.col("equipment_id") == e.id)
        spelled = sorted(
            {a for a in [e.name, *e.aliases] if a} | set(mine.get_column("alias").to_list()),
            key=normalize_alias,
        )
        rows.append(
            {
                "equipment_id": e.id, "name": e.name or parts[-1], "site": parts[0],
                "area": parts[1], "line": parts[2], "unit": parts[3], "equipment_type": e.type,
                "aliases": spelled, "sources": sorted(set(mine.get_column("_source").to_list())),
            }
        )  # fmt: skip
    unregistered = aliases.filter(
        pl.col("equipment_id").is_not_null()
        & ~pl.col("equipment_id").is_in([e.id for e in cfg.equipment])
    )
    for (eid,), grp in unregistered.group_by("equipment_id", maintain_order=True):
        parts = eid.split("/")
        rows.append(
            {
                "equipment_id": eid, "name": grp["alias"][0], "site": parts[0], "area": parts[1],
                "line": parts[2], "unit": parts[3], "equipment_type": None,
                "aliases": sorted(set(grp["alias"].to_list())),
                "sources": sorted(set(grp["_source"].to_list())),
            }
        )  # fmt: skip
    equipment = pl.DataFrame(rows, schema=canonical.schema("equipment")).sort("equipment_id")
    suggestions = (
        aliases.filter(pl.col("equipment_id").is_null())
        .group_by("alias", "suggestion")
        .agg(pl.col("rows").sum(), pl.col("_source").unique().sort().alias("sources"))
        .sort("alias")
    )
    return equipment, suggestions


def write_equipment(cfg: SourcesConfig, lake_root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Build and write the ``equipment`` and ``equipment_suggestions`` tables; returns both."""
    equipment, suggestions = equipment_table(cfg, lake_root)
    at = Lake(lake_root)
    lake.overwrite(at.table("equipment"), equipment, schema=canonical.schema("equipment"))
    lake.overwrite(at.table(EQUIPMENT_SUGGESTIONS), suggestions)
    return equipment, suggestions


def standardize_table(
    cfg: SourcesConfig, lake_root: Path, table: str, *, run_id: str,
    bucket_rows: int = BUCKET_ROWS,
) -> tuple[int, int, pl.DataFrame]:  # fmt: skip
    """Gather a table's staged rows from every source feeding it, set exact duplicates aside, and
    write ``standardized/<table>`` and its quarantine. Returns (rows in, rows kept, duplicates).

    A table of more than ``bucket_rows`` rows is deduplicated in buckets (see
    :func:`_standardize_bucketed`), so memory holds about one bucket, not the table.
    """
    at = Lake(lake_root)
    parts = _staged_parts(lake_root, cfg.ingested_sources().get(table, []))
    staged = pl.concat(parts, how="diagonal_relaxed") if parts else None
    n = 0 if staged is None else staged.select(pl.len()).collect().item()
    if staged is None or n <= bucket_rows or "equipment_id" not in canonical.TABLES[table]:
        frame = canonical.empty(table)
        if staged is not None:  # every staged row, in (source, file, row) order
            frame = _ordered(staged.drop(_POS).collect(), table)
        kept, dups = dedupe(frame, table, run_id=run_id)
        lake.overwrite(at.standardized(table), kept, schema=canonical.schema(table))
        rows_kept = kept.height
    else:
        rows_kept, dups = _standardize_bucketed(staged, parts, n, table, at, run_id, bucket_rows)
    lake.overwrite(at.quarantine("standardize", table), dups)
    return n, rows_kept, dups


def _standardize_bucketed(
    staged: pl.LazyFrame, parts: list[pl.LazyFrame], n: int, table: str, at: Lake, run_id: str,
    bucket_rows: int,
) -> tuple[int, pl.DataFrame]:  # fmt: skip
    """Deduplicate a large table bucket by bucket and stream the kept rows to the lake.

    Exact duplicates are equal in every canonical column, so they share ``equipment_id`` (and
    ``signal``): bucketing rows by a hash of those puts every duplicate beside its first delivery,
    and each bucket, in (source, file, row) order, keeps exactly the rows the whole table would.
    The first pass (over the buckets :func:`_bucket_frames` splits the table into) keeps only the
    duplicates and a fingerprint of each bucket's kept rows (the fingerprint
    :func:`corpusmill.lake.overwrite_batches` compares, so an unchanged table is not written
    again); the second writes the kept rows in (source, file, row) order, chunk by chunk of files
    (or of row ranges within a large file), as the whole-table path writes them.
    """
    cols = [c for c in ("equipment_id", "signal") if c in canonical.TABLES[table]]
    k = -(-n // bucket_rows)
    bucket = pl.struct(cols).hash(seed=0) % k
    schema = canonical.schema(table)
    fingerprints, dup_frames = [], []
    with tempfile.TemporaryDirectory(prefix="corpusmill-standardize-") as tmp:
        for frame in _bucket_frames(parts, staged.collect_schema(), bucket, k, Path(tmp),
                                    bucket_rows):  # fmt: skip
            part = _ordered(frame, table, keep=(_POS,))
            joined = _split(part, table)
            is_dup = pl.col("__i") != pl.col("__first")
            kept = joined.filter(~is_dup).select(schema.names())
            fingerprints.append(lake.fingerprint(kept.drop(lake.RUN_STAMPS, strict=False)))
            dups = joined.filter(is_dup)
            dup_frames.append(
                _duplicate_rows(dups, table, run_id).with_columns(dups.get_column(_POS))
            )
            del frame, part, joined, kept
    # (source, position) breaks ties in (source, file, row) as the whole-table sort does
    both = pl.concat(dup_frames).sort("_source", "_file", "_row", _POS)
    drop, dups = both.select("_source", _POS), both.drop(_POS)
    rows_kept = n - drop.height

    def batches():
        seen = 0
        for where in _chunks(staged, bucket_rows):
            part = _ordered(staged.filter(where).collect(engine="streaming"), table, keep=(_POS,))
            seen += part.height
            yield part.join(drop, on=["_source", _POS], how="anti", maintain_order="left").select(
                schema.names()
            )
        if seen != n:  # raised inside the write: nothing is committed
            msg = f"standardize {table}: the file chunks held {seen:,} of {n:,} staged rows"
            raise RuntimeError(msg)

    fp = lake.json_hash([f"buckets:{k}", fingerprints])
    lake.overwrite_batches(at.standardized(table), batches(), schema=schema, fingerprint=fp)
    return rows_kept, dups


def _bucket_frames(
    parts: list[pl.LazyFrame], schema: pl.Schema, bucket: pl.Expr, k: int, workdir: Path, rows: int
) -> Iterator[pl.DataFrame]:
    """The staged rows of bucket 0, 1, ... ``k - 1`` in turn (each in staged order, with the
    columns of ``schema``: the staged tables' concatenation), from ONE read of the tables: each
    slice of ``rows`` rows of each table is split by bucket into Parquet files in ``workdir``, and
    each bucket's files are then read back and removed.

    A filter per bucket reads less temp space but decodes the whole table ``k`` times: at 50 M
    rows (50 buckets) 84 s of filtering against about 22 s for the split and the read-back.
    Slices are taken of each table, not of their concatenation, whose slices polars reads from
    the start of every table (twice as slow with four sources).
    """
    files: dict[int, list[Path]] = {}
    i = 0
    for part in parts:
        have = part.collect_schema()
        conformed = part.select(
            pl.col(c).cast(t) if c in have else pl.lit(None, t).alias(c) for c, t in schema.items()
        ).with_columns(bucket.alias(_BUCKET))
        total = part.select(pl.len()).collect().item()
        for piece in lake.slices(conformed, rows, total=total):
            for (b,), frame in piece.partition_by(_BUCKET, as_dict=True, include_key=False).items():
                path = workdir / f"bucket{b}-{i}.parquet"
                frame.write_parquet(path, compression="lz4", statistics=False)
                files.setdefault(int(b), []).append(path)
            i += 1
    empty = pl.DataFrame(schema=schema)
    for b in range(k):
        paths = files.pop(b, [])
        yield pl.read_parquet(paths) if paths else empty
        for p in paths:
            p.unlink()



def _chunks(staged: pl.LazyFrame, rows: int) -> list[pl.Expr]:
    """Filters that cut ``staged`` into pieces of about ``rows`` rows, in (source, file, row)
    order: consecutive small files together, a large file in ranges of ``_row``."""
    files = (
        staged.group_by("_source", "_file")
        .agg(
            pl.len().alias("n"),
            pl.col("_row").null_count().alias("nulls"),
            pl.col("_row").min().alias("lo"),
            pl.col("_row").max().alias("hi"),
        )
        .sort("_source", "_file", nulls_last=False)
        .collect()
    )
    out: list[pl.Expr] = []
    group: list[str] = []
    group_src, group_n = None, 0

    def same_file(src: str | None, f: str | None) -> pl.Expr:
        s = pl.col("_source").is_null() if src is None else pl.col("_source") == src
        return s & (pl.col("_file").is_null() if f is None else pl.col("_file") == f)

    def flush() -> None:
        nonlocal group, group_n
        if group:
            s = pl.col("_source") == group_src
            out.append(s & pl.col("_file").is_in(group))
        group, group_n = [], 0

    for src, f, cnt, nulls, lo, hi in files.iter_rows():
        if src is None or f is None or lo is None:
            flush()
            out.append(same_file(src, f))
        elif cnt > rows:
            flush()
            if nulls:  # null rows sort first, as in the whole-table order
                out.append(same_file(src, f) & pl.col("_row").is_null())
            pieces = -(-cnt // rows)
            step = -(-(hi - lo + 1) // pieces)
            for a in range(lo, hi + 1, step):
                out.append(same_file(src, f) & pl.col("_row").is_between(a, a + step - 1))
        else:
            if src != group_src or group_n + cnt > rows:
                flush()
            group_src = src
            group.append(f)
            group_n += cnt
    flush()
    return out
