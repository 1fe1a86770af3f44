"""``image_corpus``: inspection images with label, equipment and lot, without duplicates, split by lot.

Exact duplicates (the same bytes, ``sha256``) keep the first image by ``image_id``; near-identical
images (a re-encode, a brightness shift) are found by perceptual hash (``imagehash.phash``, 64 bits)
within a declared Hamming ``threshold`` of an earlier kept image. Every excluded row names its twin.
The split ranks lots by SHA-256, so one lot is never on two sides. The corpus references each image
by hash: :func:`store_images` writes the bytes once, content-addressed, at
:meth:`corpusmill.layout.Lake.image`.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from corpusmill.corpus import BuildResult
from corpusmill.splits import split_by_key

EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"
UNREADABLE = "unreadable_image"
EXCLUSION_CHECKS = (EXACT_DUPLICATE, NEAR_DUPLICATE, UNREADABLE)

IMAGE_CORPUS_SCHEMA = pl.Schema({
    "image_id": pl.String,
    "sha256": pl.String,
    "image_path": pl.String,  # relative to the lake: images/<sha256[:2]>/<sha256>.<ext>
    "phash": pl.String,  # 64-bit perceptual hash, hex
    "image_format": pl.String,
    "width": pl.Int64,
    "height": pl.Int64,
    "size_bytes": pl.Int64,
    "label": pl.String,
    "equipment_id": pl.String,
    "lot_id": pl.String,
    "ts_utc": pl.Datetime("us", "UTC"),
    "split": pl.String,
})  # fmt: skip

EXCLUDED_SCHEMA = pl.Schema({"image_id": pl.String, "sha256": pl.String, "twin": pl.String,
                             "distance": pl.Int64, "reason": pl.String, "check": pl.String})


@dataclass(frozen=True)
class ImageConfig:
    """Settings of ``image_corpus``.

    Attributes
    ----------
    threshold
        Largest Hamming distance (of 64 bits) between perceptual hashes of near-identical images.
    val_fraction, test_fraction
        Share of lots held out, ranked by SHA-256 of ``seed`` and the lot.
    seed
        Salt of the split hash.
    """

    threshold: int = 4
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.threshold < 64:
            msg = f"threshold: expected 0..63 bits, got {self.threshold}"
            raise ValueError(msg)
        if not (0 <= self.val_fraction and 0 <= self.test_fraction
                and self.val_fraction + self.test_fraction < 1):  # fmt: skip
            msg = "val_fraction and test_fraction must be >= 0 and sum to less than 1"
            raise ValueError(msg)


def image_path(sha256: str, image_format: str | None) -> str:
    """The lake-relative path of an image's bytes (see :meth:`corpusmill.layout.Lake.image`)."""
    from corpusmill.layout import Lake

    return Lake(Path()).image(sha256, image_format).as_posix()


def _phash(content: bytes) -> int | None:
    import imagehash
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as img:
            bits = imagehash.phash(img).hash.flatten()
    except (UnidentifiedImageError, OSError):
        return None
    return int("".join("1" if b else "0" for b in bits), 2)


def build_image_corpus(images: pl.DataFrame, *, config: ImageConfig) -> BuildResult:
    """Build ``image_corpus`` from the canonical ``inspection_images`` table."""
    df = images.sort("image_id").with_columns(
        sha256=pl.coalesce("sha256", pl.col("content").map_elements(
            lambda b: hashlib.sha256(b).hexdigest(), return_dtype=pl.String))
    )  # fmt: skip
    df = df.with_columns(twin=pl.col("image_id").first().over("sha256"))
    exact = df.filter(pl.col("image_id") != pl.col("twin")).select("image_id", "sha256", "twin")
    df = df.filter(pl.col("image_id") == pl.col("twin")).drop("twin")
    # one decode per distinct image (perceptual hashing needs the pixels)
    hashes = [_phash(b) for b in df["content"].to_list()]
    unreadable = df.filter(pl.Series([h is None for h in hashes], dtype=pl.Boolean))
    df = df.filter(pl.Series([h is not None for h in hashes], dtype=pl.Boolean))
    values = np.array([h for h in hashes if h is not None], dtype=np.uint64)
    twin, dist = _near_twins(values, config.threshold)
    ids = df["image_id"].to_list()
    near = [(ids[i], df["sha256"][i], ids[twin[i]], int(dist[i]))
            for i in range(len(ids)) if twin[i] >= 0]  # fmt: skip
    keep = twin < 0
    kept = df.with_columns(phash=pl.Series([f"{int(v):016x}" for v in values], dtype=pl.String)
                           ).filter(pl.Series(keep, dtype=pl.Boolean))  # fmt: skip
    kept = kept.with_columns(
        image_path=pl.struct("sha256", "image_format").map_elements(
            lambda r: image_path(r["sha256"], r["image_format"]), return_dtype=pl.String),
    )  # fmt: skip
    kept = kept.with_columns(split=split_by_key(
        kept["lot_id"], seed=config.seed, test_fraction=config.test_fraction,
        val_fraction=config.val_fraction,
    ))
    frame = kept.select([pl.col(c).cast(t) for c, t in IMAGE_CORPUS_SCHEMA.items()]).sort("image_id")
    excluded = pl.concat([
        exact.with_columns(distance=pl.lit(0, pl.Int64), check=pl.lit(EXACT_DUPLICATE),
                           reason=pl.lit("same bytes as ") + pl.col("twin")),
        pl.DataFrame(near, schema=["image_id", "sha256", "twin", "distance"], orient="row")
        .with_columns(check=pl.lit(NEAR_DUPLICATE),
                      reason=pl.format("perceptual hash within {} bits of {}", "distance", "twin")),
        unreadable.select("image_id", "sha256", twin=pl.lit(None, pl.String),
                          distance=pl.lit(None, pl.Int64), check=pl.lit(UNREADABLE),
                          reason=pl.lit("the bytes do not decode as an image")),
    ], how="diagonal_relaxed").select(
        [pl.col(c).cast(t) for c, t in EXCLUDED_SCHEMA.items()]
    ).sort("image_id")  # fmt: skip
    stats = {"images": images.height, "rows": frame.height,
             "exact_duplicates": exact.height, "near_duplicates": len(near),
             "unreadable": unreadable.height}  # fmt: skip
    return BuildResult(frame, excluded, stats)


def _near_twins(values: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """Per image, the index of the first earlier *kept* image within ``threshold`` bits (-1: none)."""
    n = len(values)
    twin = np.full(n, -1, dtype=np.int64)
    dist = np.zeros(n, dtype=np.int64)
    if n == 0:
        return twin, dist
    bits = np.unpackbits(values.view(np.uint8).reshape(n, 8), axis=1)
    # pairwise Hamming distances, n x n (n is the images of one plant, not millions)
    d = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    kept = np.zeros(n, dtype=bool)
    for i in range(n):
        near = np.flatnonzero(kept[:i] & (d[i, :i] <= threshold))
        if near.size:
            twin[i], dist[i] = near[0], d[i, near[0]]
        else:
            kept[i] = True
    return twin, dist


def store_images(lake_root: Path, images: pl.DataFrame, corpus: pl.DataFrame) -> int:
    """Write each image of ``corpus`` once to its content-addressed path; returns files written.

    Idempotent: a path that exists already holds these bytes (its name is their hash)."""
    from corpusmill import storage
    from corpusmill.layout import Lake

    at = Lake(lake_root)
    content = images.select("sha256", "content").unique("sha256")
    rows = corpus.select("sha256", "image_format").join(content, on="sha256", how="left")
    written = 0
    for sha, fmt, body in rows.iter_rows():
        path = at.image(sha, fmt)
        if body is None or storage.exists(path):
            continue
        storage.write_bytes(path, body)
        written += 1
    return written
