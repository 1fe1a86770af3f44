"""Trainer formats of a shard: Parquet, JSONL and WebDataset tar, each serialized in memory.

Every writer takes one shard's corpus rows (sorted by id) and returns the file's bytes; the same
rows always give the same bytes, so :func:`~corpusmill.shards.write.write_shards` can skip
unchanged files. In a WebDataset sample the payload columns become their own members and every
other column goes to the ``.json`` metadata:

* ``text`` -> ``.txt``; ``instruction`` / ``response`` (SFT pairs) -> ``.instruction.txt`` /
  ``.response.txt``;
* ``values`` (a window's channels x steps) -> ``.npy`` (float64, shape ``(channels, steps)``);
* image bytes (a Binary column ``content`` or ``image``) -> ``.png`` / ``.jpg`` / ... after the
  ``image_format`` column, or the bytes' signature when there is none; an ``image_path`` column
  -> that file's bytes, the extension from the path.

A sample's key is ``<shard>-<row>`` (WebDataset splits keys at the first dot, so ids are not
used as keys); its id is in the ``.json`` metadata under the corpus's id column.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

#: The formats :func:`~corpusmill.shards.write.write_shards` can write, and their file suffixes.
FORMATS = {"parquet": ".parquet", "jsonl": ".jsonl", "webdataset": ".tar"}
DEFAULT_FORMATS = ("parquet", "webdataset")

TEXT_COLUMNS = {"text": "txt", "instruction": "instruction.txt", "response": "response.txt"}
IMAGE_COLUMNS = ("content", "image")
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "webp": "webp", "tiff": "tiff",
               "tif": "tiff", "bmp": "bmp", "gif": "gif"}  # fmt: skip
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF8", "gif"),
               (b"BM", "bmp"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"))  # fmt: skip


def check_formats(formats: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The formats in a fixed order, or a ValueError naming the unknown ones."""
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        msg = (
            f"unknown shard format(s) {unknown or '(none given)'}; "
            f"choose from {', '.join(FORMATS)}"
        )
        raise ValueError(msg)
    return tuple(f for f in FORMATS if f in formats)


def parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf, compression="zstd", statistics=True)
    return buf.getvalue()


def jsonl_bytes(df: pl.DataFrame) -> bytes:
    """One JSON object per row; Binary columns as base64 strings, times as ISO 8601."""
    binary = [c for c, t in df.schema.items() if t == pl.Binary]
    df = df.with_columns(pl.col(c).bin.encode("base64") for c in binary)
    buf = io.BytesIO()
    df.write_ndjson(buf)
    return buf.getvalue()


def webdataset_bytes(
    df: pl.DataFrame, *, shard_id: int, id_column: str, base_dir: Path | None = None
) -> bytes:
    """A WebDataset tar of the rows (written by ``webdataset.TarWriter``, fixed mtime)."""
    import webdataset as wds

    known = (*TEXT_COLUMNS, "values", *IMAGE_COLUMNS, "image_path")
    payload = [c for c in known if c in df.columns]
    meta_cols = [c for c in df.columns if c not in payload and not _is_binary(df, c)]
    buf = io.BytesIO()
    with wds.TarWriter(buf, mtime=0, user="corpusmill", group="corpusmill") as sink:
        meta = df.select(meta_cols).to_dicts()
        rows = df.select(payload).to_dicts()
        for i, (m, p) in enumerate(zip(meta, rows, strict=True)):
            sample: dict[str, Any] = {"__key__": f"{shard_id:05d}-{i:06d}"}
            sample["json"] = json.dumps(m, sort_keys=True, default=str).encode()
            for col, ext in TEXT_COLUMNS.items():
                if col in p and p[col] is not None:
                    sample[ext] = p[col].encode("utf-8")
            if p.get("values") is not None:
                sample["npy"] = _npy(np.asarray(p["values"], dtype=np.float64))
            image = _image(p, m, base_dir, row=m.get(id_column, i))
            if image is not None:
                sample[image[0]] = image[1]
            sink.write(sample)
    return buf.getvalue()


def _is_binary(df: pl.DataFrame, column: str) -> bool:
    return df.schema[column] == pl.Binary


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _image(
    payload: dict[str, Any], meta: dict[str, Any], base_dir: Path | None, *, row: Any
) -> tuple[str, bytes] | None:
    data = next((payload[c] for c in IMAGE_COLUMNS if payload.get(c) is not None), None)
    ext = None
    if data is None and payload.get("image_path"):
        path = Path(payload["image_path"])
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            msg = (
                f"row {row!r}: image_path {str(path)!r} does not exist; "
                "fix the path or drop the row"
            )
            raise FileNotFoundError(msg)
        data = path.read_bytes()
        ext = _EXTENSIONS.get(path.suffix.lower().lstrip("."))
    if data is None:
        return None
    fmt = str(meta.get("image_format") or "").lower()
    sniffed = next((e for s, e in _SIGNATURES if data.startswith(s)), None)
    ext = _EXTENSIONS.get(fmt) or ext or sniffed
    if ext is None:
        msg = (
            f"row {row!r}: cannot tell the image format (no image_format, unknown signature "
            f"{data[:8]!r}); add an image_format column"
        )
        raise ValueError(msg)
    return ext, bytes(data)

