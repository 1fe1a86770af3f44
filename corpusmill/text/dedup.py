"""Deduplication: exact (sha256 of the text) and near (MinHash LSH over character shingles).

Both keep the lowest ``doc_id`` (string order) and name it in the reason of every document they
drop, so an excluded row always says whom it duplicates.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

#: The LSH index is built below the requested threshold (by LSH_MARGIN, from at most
#: LSH_MAX_THRESHOLD: near 1.0 datasketch's optimal banding has too few bands, e.g. 2 at 0.97 with
#: 128 permutations, and fails above ~0.98), so that pairs just above the threshold are rarely
#: missed; every candidate is then checked against the real threshold.
LSH_MARGIN = 0.1
LSH_MAX_THRESHOLD = 0.9
LSH_MIN_THRESHOLD = 0.05

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def sha256_series(texts: pl.Series) -> pl.Series:
    """Hex sha256 of each text's UTF-8 bytes."""
    return pl.Series(
        "sha256",
        [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts.to_list()],
        dtype=pl.String,
    )


def exact_duplicate_of(
    df: pl.DataFrame, *, key: str = "sha256", id_col: str = "doc_id"
) -> pl.Series:
    """For each row, the lowest ``id_col`` with the same ``key`` if that is not the row itself, else null."""
    return df.select(
        pl.when(pl.col(id_col).min().over(key) != pl.col(id_col))
        .then(pl.col(id_col).min().over(key))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("duplicate_of")
    ).to_series()


def shingle_hashes(text: str, k: int) -> list[int]:
    """Distinct 32-bit hashes of the character k-grams of ``text`` (lower-cased, whitespace collapsed).

    FNV-1a over code points, vectorised with numpy: deterministic across runs, platforms and library
    versions (unlike Python's ``hash`` or polars' hash), and fast enough that MinHash does not need a
    Python call per shingle. A text shorter than ``k`` is one shingle.
    """
    norm = " ".join(text.lower().split())
    cps = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if cps.size == 0:
        return []
    if cps.size < k:
        windows = cps.reshape(1, -1)
    else:
        windows = np.lib.stride_tricks.sliding_window_view(cps, k)
    h = np.full(windows.shape[0], _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(windows.shape[1]):
            h = (h ^ windows[:, j]) * _FNV_PRIME
    folded = (h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    return np.unique(folded).tolist()


def near_duplicates(
    doc_ids: list[str],
    texts: list[str],
    *,
    threshold: float,
    num_perm: int,
    shingle: int,
    seed: int,
) -> dict[str, tuple[str, float]]:
    """Near-duplicate clusters by MinHash LSH: ``{dropped doc_id: (representative, jaccard estimate)}``.

    Greedy in ascending ``doc_id`` order: a document whose MinHash Jaccard estimate against an
    already kept representative is at least ``threshold`` joins that representative (the most
    similar one; ties go to the lowest id); otherwise it becomes a representative itself. So each
    cluster is represented by its lowest doc_id, every dropped document is within ``threshold`` of
    the one it names (LSH candidates below it are discarded), and the result depends only on the
    input and ``seed``.
    """
    from datasketch import MinHash, MinHashLSH

    order = sorted(range(len(doc_ids)), key=doc_ids.__getitem__)
    lsh_threshold = max(LSH_MIN_THRESHOLD, min(threshold, LSH_MAX_THRESHOLD) - LSH_MARGIN)
    try:
        lsh = MinHashLSH(threshold=lsh_threshold, num_perm=num_perm)
    except ValueError as err:
        msg = f"num_perm={num_perm} is too small for MinHash LSH ({err}); use num_perm >= 32"
        raise ValueError(msg) from err
    kept: dict[str, MinHash] = {}
    dropped: dict[str, tuple[str, float]] = {}
    shingles = (shingle_hashes(texts[i], shingle) for i in order)
    # hashfunc=int: the shingles are already 32-bit hashes (see shingle_hashes).
    minhashes = MinHash.generator(shingles, num_perm=num_perm, seed=seed, hashfunc=int)
    for i, mh in zip(order, minhashes, strict=True):
        doc_id = doc_ids[i]
        best: tuple[float, str] | None = None
        for cand in lsh.query(mh):
            j = float(mh.jaccard(kept[cand]))
            if j >= threshold and (best is None or (-j, cand) < (-best[0], best[1])):
                best = (j, cand)
        if best is None:
            lsh.insert(doc_id, mh)
            kept[doc_id] = mh
        else:
            dropped[doc_id] = (best[1], best[0])
    return dropped
