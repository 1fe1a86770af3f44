"""Opening one file by format: documents, images with their sidecar row, tables with their joins."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from corpusmill import readers
from corpusmill.config import DOCUMENT_FORMATS, Source, SourcesConfig, is_uri
from corpusmill.ingest.files import IngestError, _fs

BATCH_ROWS = 250_000


def _open(
    cfg: SourcesConfig,
    src: Source,
    file: str,
    sidecar: tuple[pl.DataFrame, str] | None,
    storage_options: dict | None,
    workdir: Path,
) -> tuple[Iterator[pl.DataFrame], list[str], pl.DataFrame, str | None]:
    """(batches of delivered rows with _row, delivered columns, rejected rows, encoding)."""
    no_rejects = pl.DataFrame(
        schema={"_row": pl.Int64, "raw_value": pl.String, "reason": pl.String, "check": pl.String}
    )
    if src.format in DOCUMENT_FORMATS:
        doc = readers.read_document(file, src.format, src.read, storage_options=storage_options)
        name = file.rsplit("/", 1)[-1]
        frame = pl.DataFrame(
            {"file": [name], "title": [doc.title or Path(name).stem], "text": [doc.text],
             "_row": [1]}, schema_overrides={"_row": pl.Int64},
        )  # fmt: skip
        return iter([_with_default_fields(frame, src, {"title": "title", "text": "text"})]), \
            ["file", "title", "text"], no_rejects, doc.encoding  # fmt: skip
    if src.format == "images":
        assert sidecar is not None
        return iter([_image_row(file, src, sidecar[0], storage_options)]), \
            list(sidecar[0].columns), no_rejects, None  # fmt: skip
    rr = readers.read_table(file, src.format, src.read, storage_options=storage_options,
                            workdir=workdir)  # fmt: skip
    joins = [_read_join(cfg, j, storage_options, workdir) for j in src.join]

    chunk = BATCH_ROWS
    if src.kind == "sensor" and src.shape in ("wide", "batch"):
        # every delivered row becomes one row per tag column: a batch of about 4 x BATCH_ROWS
        # cells (a few hundred delivered rows at least, so the per-batch work is amortised)
        chunk = max(1, 4 * BATCH_ROWS // max(1, len(rr.columns)))

    def batches() -> Iterator[pl.DataFrame]:
        for batch in rr.batches(chunk):
            for spec, right in joins:
                batch = _join(batch, spec, right)
            yield batch

    columns = list(rr.columns) + [c for _s, r in joins for c in r.columns]
    return batches(), columns, rr.rejects, rr.encoding


def _with_default_fields(frame: pl.DataFrame, src: Source, defaults: dict[str, str]):
    # documents deliver "title" and "text"; a source may still map them elsewhere
    for canon, col in defaults.items():
        if canon not in src.fields and canon not in src.constants:
            frame = frame.with_columns(pl.col(col).alias(f"__{canon}"))
    return frame


def _read_join(cfg: SourcesConfig, spec, storage_options, workdir):
    path = spec.path if is_uri(spec.path) else str((cfg.base_dir / spec.path).resolve())
    rr = readers.read_table(path, spec.format, spec.read, storage_options=storage_options,
                            workdir=workdir)  # fmt: skip
    right = rr.collect().drop("_row")
    keys = list(spec.on.values())
    dup = right.filter(pl.struct(keys).is_duplicated())
    if dup.height:
        msg = f"join file {path}: key {keys} is not unique ({dup.height} rows share a key)"
        raise IngestError(msg)
    return spec, right.with_columns(
        [pl.col(k).cast(pl.String).str.strip_chars() for k in keys]
    ).with_columns(pl.lit(True).alias(f"__joined_{len(keys)}_{spec.path}"))


def _join(batch: pl.DataFrame, spec, right: pl.DataFrame) -> pl.DataFrame:
    left_keys = list(spec.on)
    tmp = [f"__key{i}" for i in range(len(left_keys))]
    batch = batch.with_columns(
        [pl.col(k).cast(pl.String).str.strip_chars().alias(t) for k, t in zip(left_keys, tmp)]
    )
    return batch.join(right, left_on=tmp, right_on=list(spec.on.values()), how="left",
                      coalesce=True, maintain_order="left").drop(tmp)  # fmt: skip


def _read_sidecar(
    cfg: SourcesConfig, src: Source, storage_options: dict | None
) -> tuple[pl.DataFrame, str]:
    assert src.sidecar is not None
    sc = src.sidecar
    path = sc.path if is_uri(sc.path) else str((cfg.base_dir / sc.path).resolve())
    rr = readers.read_table(path, sc.format, sc.read, storage_options=storage_options)
    frame = rr.collect()
    if sc.file_column not in frame.columns:
        msg = f"source {src.name!r}: sidecar {path} has no column {sc.file_column!r}"
        raise IngestError(msg)
    return frame, readers.sha256_file(path, storage_options=storage_options)


def _image_row(
    file: str, src: Source, sidecar: pl.DataFrame, storage_options: dict | None
) -> pl.DataFrame:
    import hashlib

    from PIL import Image

    assert src.sidecar is not None
    with _fs(file, storage_options).open(file, "rb") if is_uri(file) else open(file, "rb") as fh:
        content = fh.read()
    name = file.rsplit("/", 1)[-1]
    try:
        with Image.open(io.BytesIO(content)) as im:
            width, height, fmt = im.width, im.height, (im.format or "").lower()
            im.verify()
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for a bad image
        raise readers.ReaderError(f"{file}: not a readable image ({e})") from None
    labels = sidecar.filter(pl.col(src.sidecar.file_column).cast(pl.String) == name).head(1)
    if labels.height == 0:
        labels = pl.DataFrame(schema=sidecar.schema).clear(1)
    return labels.with_columns(
        pl.lit(1, pl.Int64).alias("_row"),
        pl.lit(name).alias("__image_id") if "image_id" not in src.fields else pl.lit(None),
        pl.lit(content, pl.Binary).alias("__content"),
        pl.lit(hashlib.sha256(content).hexdigest()).alias("__sha256"),
        pl.lit(len(content), pl.Int64).alias("__size_bytes"),
        pl.lit(width, pl.Int64).alias("__width"),
        pl.lit(height, pl.Int64).alias("__height"),
        pl.lit(fmt).alias("__image_format"),
    ).drop("literal", strict=False)
