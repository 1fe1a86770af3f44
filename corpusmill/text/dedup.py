"""Deduplication: exact (sha256 of the text) and near (MinHash LSH over character shingles).

Near dedup hashes the shingles the way datasketch's ``MinHash`` does by default and runs its hot
loops (distinct shingles, signatures, band keys and band pairs) compiled with numba
(:mod:`corpusmill.text.minhash_kernels`, imported on first use: numba takes most of a second).

Both keep the lowest ``doc_id`` (string order) and name it in the reason of every document they
drop, so an excluded row always says whom it duplicates.
"""

from __future__ import annotations

import functools
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

    Each shingle is hashed the way datasketch's ``MinHash`` hashes a value by default
    (``sha1_hash32``: the first 4 bytes of the SHA-1 of its UTF-8 bytes, little-endian), so a plain
    ``MinHash().update_batch([s.encode("utf-8") ...])`` of the same shingles gives the same
    signature. A text shorter than ``k`` is one shingle.
    """
    norm = _normalise(text)
    if not norm:
        return []
    if len(norm) < k:
        return [_sha1_32(norm)]
    return sorted({_sha1_32(norm[p : p + k]) for p in range(len(norm) - k + 1)})


def _sha1_32(shingle: str) -> int:
    return int.from_bytes(hashlib.sha1(shingle.encode("utf-8")).digest()[:4], "little")


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _bulk_shingles(texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of every text at once: ``(hashes uint32, counts per text int64)``.

    The same values as :func:`shingle_hashes` per text (without its de-duplication, which does not
    change a minimum). All normalised texts are joined into one array of code points; the k-windows
    that lie inside a text are mapped to distinct shingles (:func:`corpusmill.text.minhash_kernels.window_codes`), and only the
    distinct shingles are hashed with SHA-1 (a corpus of templated texts repeats most of them).
    """
    norms = [_normalise(t) for t in texts]
    lens = np.fromiter((len(t) for t in norms), dtype=np.int64, count=len(norms))
    joined = "".join(norms)
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    starts = np.zeros(len(norms), dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    counts = np.where(lens >= k, lens - k + 1, np.where(lens > 0, 1, 0)).astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.uint32), counts
    from corpusmill.text.minhash_kernels import window_codes, window_codes_packed

    codes, first = (window_codes_packed if k <= 6 else window_codes)(cps, starts, lens, k)
    sha1 = hashlib.sha1
    digests = b"".join([sha1(joined[p : p + k].encode("utf-8")).digest()[:4] for p in first.tolist()])
    distinct = np.frombuffer(digests, dtype="<u4").astype(np.uint32)
    # Code -1 (a text shorter than k) takes the last value here and is set just below.
    out = distinct[codes] if distinct.size else np.zeros(total, dtype=np.uint32)
    if first.size < total and ((lens > 0) & (lens < k)).any():
        first_slot = np.cumsum(counts) - counts
        for i in np.flatnonzero((lens > 0) & (lens < k)).tolist():
            out[first_slot[i]] = _sha1_32(norms[i])
    return out, counts


def minhash_signatures(
    hashes: np.ndarray, counts: np.ndarray, *, num_perm: int, seed: int
) -> np.ndarray:
    """(n_docs x num_perm) uint32 MinHash signatures, bit-identical to datasketch's ``MinHash``.

    datasketch (>= 2.0, default "affine32" scheme) maps each 32-bit input hash ``h`` to
    ``a_k * fmix32(h) + b_k mod 2**32`` for permutation k and keeps the minimum; ``a``/``b`` are
    taken from a ``MinHash(num_perm, seed)``. Here one compiled loop does that per document, the
    documents split over the cores. A document without shingles keeps datasketch's empty value
    (all 0xFFFFFFFF).
    """
    from datasketch import MinHash

    from corpusmill.text.minhash_kernels import min_affine

    perms = MinHash(num_perm=num_perm, seed=seed).permutations
    a, b = (np.asarray(x, dtype=np.uint32) for x in perms)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return min_affine(np.ascontiguousarray(hashes, dtype=np.uint32), offsets, a, b)


def _similar_pairs(
    sig: np.ndarray, bands: int, rows: int, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct LSH candidate pairs (sharing at least one band) at or above ``threshold``:
    ``(lo, hi, estimate)``, lo < hi."""
    from corpusmill.text.minhash_kernels import band_keys, similar_in_runs

    n = sig.shape[0]
    keys = band_keys(sig, bands, rows)
    orders = np.argsort(keys, axis=1)  # the order within a run does not change the pairs
    sorted_keys = np.take_along_axis(keys, orders, axis=1)
    lo, hi, jac = similar_in_runs(orders, sorted_keys, sig, float(threshold))
    _, first = np.unique(lo * n + hi, return_index=True)
    return lo[first], hi[first], jac[first]


@functools.lru_cache(maxsize=32)
def _lsh_bands(lsh_threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) that ``MinHashLSH(threshold, num_perm)`` picks (default weights)."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(lsh_threshold, num_perm, 0.5, 0.5)


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

    Compiled with numba (see docs/corpora-text.md): the distinct shingles of all documents are
    found once and hashed with datasketch's default hash (:func:`shingle_hashes`), the signatures
    are datasketch's bit for bit (:func:`minhash_signatures`), the LSH bands are datasketch's
    choice for the (lowered) index threshold, and candidates sharing a band are verified by their
    estimate in the band scan; the greedy pass then only visits documents that have a candidate
    above ``threshold``. The result is the one a plain datasketch loop (``MinHash().update_batch``
    of the UTF-8 shingles + ``MinHashLSH``) gives.

    Warnings
    --------
    The first call in a process loads the compiled loops from numba's cache (``__pycache__``), or
    compiles them (some seconds) when there is none.
    """
    n = len(doc_ids)
    if n != len(texts):
        msg = f"near_duplicates: {n} doc_ids but {len(texts)} texts"
        raise ValueError(msg)
    lsh_threshold = max(LSH_MIN_THRESHOLD, min(threshold, LSH_MAX_THRESHOLD) - LSH_MARGIN)
    # Same banding as MinHashLSH(threshold=lsh_threshold, num_perm=num_perm).
    bands, rows = _lsh_bands(lsh_threshold, num_perm)
    if bands < 2:
        err = "The number of bands are too small (b < 2)"
        msg = f"num_perm={num_perm} is too small for MinHash LSH ({err}); use num_perm >= 32"
        raise ValueError(msg)
    if n < 2:
        return {}
    order = sorted(range(n), key=doc_ids.__getitem__)
    ids = [doc_ids[i] for i in order]
    hashes, counts = _bulk_shingles([texts[i] for i in order], shingle)
    sig = minhash_signatures(hashes, counts, num_perm=num_perm, seed=seed)
    lo, hi, jac = _similar_pairs(sig, bands, rows, threshold)
    if not lo.size:
        return {}
    # Per later document, its earlier candidates best first: highest estimate, then lowest id.
    by = np.lexsort((lo, -jac, hi))
    lo, hi, jac = lo[by].tolist(), hi[by].tolist(), jac[by].tolist()

    dropped_idx: set[int] = set()
    dropped: dict[str, tuple[str, float]] = {}
    k = 0
    while k < len(hi):
        d = hi[k]
        while k < len(hi) and hi[k] == d:
            if d not in dropped_idx and lo[k] not in dropped_idx:
                dropped_idx.add(d)
                dropped[ids[d]] = (ids[lo[k]], float(jac[k]))
            k += 1
    return dropped


def near_duplicates_datasketch(
    doc_ids: list[str],
    texts: list[str],
    *,
    threshold: float,
    num_perm: int,
    shingle: int,
    seed: int,
) -> dict[str, tuple[str, float]]:
    """Reference: the same clusters from a per-document datasketch MinHash + MinHashLSH loop.

    Slow (about 4,000 documents/s); kept to check :func:`near_duplicates` against.
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
