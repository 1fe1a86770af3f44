"""``image_corpus``: exact and near duplicates left out naming their twin, images stored by hash."""

from __future__ import annotations

import hashlib
import io

import polars as pl
import pytest

from corpusmill import canonical, lake
from corpusmill.corpora import CORPORA
from corpusmill.corpus import CorpusError
from corpusmill.images import ImageConfig, build_image_corpus
from corpusmill.layout import Lake

SPEC = CORPORA["image_corpus"]


def _png(seed: int, shift: int = 0) -> bytes:
    from PIL import Image

    import random

    rng = random.Random(seed)
    img = Image.frombytes("L", (32, 32), bytes(min(255, rng.randint(0, 200) + shift)
                                               for _ in range(32 * 32)))  # fmt: skip
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _images(rows: list[tuple[str, bytes, str]]) -> pl.DataFrame:
    return canonical.conform(pl.DataFrame({
        "image_id": [r[0] for r in rows], "content": [r[1] for r in rows],
        "sha256": [hashlib.sha256(r[1]).hexdigest() for r in rows], "image_format": ["PNG"] * len(rows),
        "lot_id": [r[2] for r in rows], "label": ["ok"] * len(rows),
    }), "inspection_images")  # fmt: skip


def test_exact_near_and_unreadable_images_are_excluded_with_their_twin() -> None:
    a, b = _png(1), _png(2)
    images = _images([("a", a, "L1"), ("a-copy", a, "L1"), ("b", b, "L2"),
                      ("b-bright", _png(2, shift=3), "L2"), ("junk", b"not an image", "L3")])
    result = SPEC.build({"inspection_images": images})
    assert result.frame["image_id"].to_list() == ["a", "b"]
    assert result.excluded.select("image_id", "check", "twin", "distance").rows() == [
        ("a-copy", "exact_duplicate", "a", 0),
        ("b-bright", "near_duplicate", "b", 0),
        ("junk", "unreadable_image", None, None),
    ]
    sha = hashlib.sha256(a).hexdigest()
    assert result.frame["image_path"][0] == f"images/{sha[:2]}/{sha}.png"
    # with a threshold of 0 bits the brightened copy still hashes the same; random noise does not
    strict = build_image_corpus(images, config=ImageConfig(threshold=0))
    assert strict.stats["near_duplicates"] == 1 and strict.stats["exact_duplicates"] == 1


def test_split_is_by_lot_and_bad_threshold_is_refused() -> None:
    images = _images([(f"i{n}", _png(100 + n), f"L{n // 3}") for n in range(30)])
    frame = SPEC.build({"inspection_images": images}).frame
    assert frame.height == 30
    assert frame.group_by("lot_id").agg(pl.col("split").n_unique())["split"].to_list() == [1] * 10
    assert frame.group_by("split").len().sort("split").rows() == [("test", 3), ("train", 24),
                                                                  ("val", 3)]  # fmt: skip
    with pytest.raises(CorpusError, match="corpora.image_corpus: threshold: expected 0..63"):
        SPEC.resolve({"threshold": 64})


@pytest.mark.slow
@pytest.mark.xdist_group("built")
def test_generated_images_keep_one_of_each_and_store_them_once(built, ground_truth) -> None:
    home, _ = built
    at = Lake(home.lake)
    truth = ground_truth["images"]
    frame = lake.read(at.table("image_corpus"))
    excluded = lake.read(at.excluded("image_corpus"))
    near = truth["near_duplicates"]
    # the byte-identical copy is one source's re-delivery: ingest reads it once, so the canonical
    # table holds count - duplicates images, and the corpus drops the planted near duplicates
    assert frame.height == truth["count"] - truth["duplicates"] - len(near) == 36
    assert excluded.select("image_id", "check", "twin").rows() == sorted(
        (n, "near_duplicate", twin) for n, twin in near.items()
    ) == [("IMG_0016_resaved.png", "near_duplicate", "IMG_0016.png"),
          ("IMG_0031_bright.png", "near_duplicate", "IMG_0031.png")]  # fmt: skip
    files = sorted(p.relative_to(home.lake).as_posix() for p in (home.lake / "images").rglob("*.png"))
    assert files == sorted(frame["image_path"])
    for path, sha in frame.select("image_path", "sha256").iter_rows():
        assert hashlib.sha256((home.lake / path).read_bytes()).hexdigest() == sha
