"""Deduplication: exact (sha256 of the text) and near (MinHash LSH over character shingles).

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


#: Pairs whose signatures are compared at once (bounds the temporary (pairs x num_perm) array).
_PAIR_CHUNK = 65_536
#: Shingles per block when computing signatures (bounds the (shingles x num_perm) uint32 block).
_SHINGLE_BLOCK = 8_192
_M32 = np.uint64(0xFFFFFFFF)


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _bulk_shingles(texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of every text at once: ``(hashes uint32, counts per text int64)``.

    The same values as :func:`shingle_hashes` per text (without its de-duplication, which does not
    change a minimum): all normalised texts are joined into one array of code points and the FNV-1a
    of every k-window is computed in k vector steps; windows that cross a text boundary are dropped.
    """
    norms = [_normalise(t) for t in texts]
    lens = np.fromiter((len(t) for t in norms), dtype=np.int64, count=len(norms))
    cps = np.frombuffer("".join(norms).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    starts = np.zeros(len(norms), dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    counts = np.where(lens >= k, lens - k + 1, np.where(lens > 0, 1, 0)).astype(np.int64)
    total = int(counts.sum())
    out = np.empty(total, dtype=np.uint32)
    if total == 0:
        return out, counts
    n_win = max(cps.size - k + 1, 0)
    h = np.full(n_win, _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = (h ^ cps[j : j + n_win]) * _FNV_PRIME
    folded = ((h ^ (h >> np.uint64(32))) & _M32).astype(np.uint32)
    # Output slot of each text's first shingle; window p of text i is at starts[i] + p.
    first = np.zeros(len(norms), dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    long_ = np.flatnonzero(lens >= k)
    if long_.size:
        c = counts[long_]
        owner = np.repeat(long_, c)
        run0 = np.repeat(np.cumsum(c) - c, c)  # start of each long text's run among long texts
        within = np.arange(owner.size, dtype=np.int64) - run0
        out[first[owner] + within] = folded[starts[owner] + within]
    for i in np.flatnonzero((lens > 0) & (lens < k)).tolist():  # shorter than k: one shingle
        out[first[i]] = shingle_hashes(norms[i], k)[0]
    return out, counts


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch applies it before its affine permutations."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x85EBCA6B)
        h = h ^ (h >> np.uint32(13))
        h = h * np.uint32(0xC2B2AE35)
        return h ^ (h >> np.uint32(16))


def minhash_signatures(
    hashes: np.ndarray, counts: np.ndarray, *, num_perm: int, seed: int
) -> np.ndarray:
    """(n_docs x num_perm) uint32 MinHash signatures, bit-identical to datasketch's ``MinHash``.

    datasketch (>= 2.0, default "affine32" scheme, ``hashfunc=int``) maps each 32-bit input ``h``
    to ``a_k * fmix32(h) + b_k mod 2**32`` for permutation k and keeps the minimum; ``a``/``b`` are
    taken from a ``MinHash(num_perm, seed)``. Here that runs over blocks of whole documents at
    once, with ``np.minimum.reduceat`` over each document's run of shingles. A document without
    shingles keeps datasketch's empty value (all 0xFFFFFFFF).
    """
    from datasketch import MinHash

    perms = MinHash(num_perm=num_perm, seed=seed).permutations
    a, b = (np.asarray(x, dtype=np.uint32) for x in perms)
    n = counts.size
    sig = np.full((n, num_perm), np.uint32(0xFFFFFFFF), dtype=np.uint32)
    nz = np.flatnonzero(counts > 0)
    if nz.size == 0:
        return sig
    mixed = _fmix32(hashes)
    ends = np.cumsum(counts[nz])
    begins = ends - counts[nz]
    buf = np.empty((num_perm, _SHINGLE_BLOCK), dtype=np.uint32)
    d0 = 0
    while d0 < nz.size:
        # Documents d0..d1-1 (of nz): as many as fit in one block (at least one).
        d1 = int(np.searchsorted(ends, begins[d0] + _SHINGLE_BLOCK, side="right"))
        d1 = max(d1, d0 + 1)
        s0, s1 = int(begins[d0]), int(ends[d1 - 1])
        # Permutation-major (num_perm x shingles), so that each reduceat row is contiguous.
        width = s1 - s0
        big = width > _SHINGLE_BLOCK  # one document longer than a block
        block = np.empty((num_perm, width), np.uint32) if big else buf[:, :width]
        with np.errstate(over="ignore"):
            np.multiply(a[:, None], mixed[None, s0:s1], out=block)
            np.add(block, b[:, None], out=block)
        sig[nz[d0:d1]] = np.minimum.reduceat(block, begins[d0:d1] - s0, axis=1).T
        d0 = d1
    return sig


def _band_keys(sig: np.ndarray, b: int, r: int) -> np.ndarray:
    """(b x n_docs) uint64 key per LSH band (a 64-bit hash of the band's r values)."""
    n = sig.shape[0]
    keys = np.empty((b, n), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(b):
            h = np.full(n, _FNV_OFFSET, dtype=np.uint64)
            for col in range(band * r, (band + 1) * r):
                h = (h ^ sig[:, col].astype(np.uint64)) * _FNV_PRIME
                h ^= h >> np.uint64(29)
            keys[band] = h
    return keys


def _candidate_pairs(keys: np.ndarray) -> np.ndarray:
    """Distinct pairs (lo, hi), lo < hi, of documents sharing a key in at least one band, as
    ``lo * n + hi`` int64 codes (sorted)."""
    n = keys.shape[1]
    codes: list[np.ndarray] = []
    for row in keys:
        order = np.argsort(row, kind="stable")
        sk = row[order]
        new_run = np.empty(n, dtype=bool)
        new_run[:1] = True
        new_run[1:] = sk[1:] != sk[:-1]
        run_id = np.cumsum(new_run) - 1
        run_start = np.flatnonzero(new_run)
        run_end = np.append(run_start[1:], n)[run_id]  # per sorted position: end of its run
        pos = np.flatnonzero(run_end - np.arange(n) > 1)  # positions with a later run member
        off = 1
        while pos.size:
            x, y = order[pos], order[pos + off]
            codes.append(np.minimum(x, y).astype(np.int64) * n + np.maximum(x, y))
            off += 1
            pos = pos[run_end[pos] > pos + off]
    if not codes:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(codes))


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

    Vectorised (see docs/corpora-text.md): shingles of all documents are hashed at once, the
    signatures are datasketch's bit for bit (:func:`minhash_signatures`), the LSH bands are
    datasketch's choice for the (lowered) index threshold, and candidates are the pairs that share
    a band; the greedy pass then only visits documents that have a candidate above ``threshold``.
    The result is the one the per-document datasketch loop (MinHash + MinHashLSH) gives.
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
    pairs = _candidate_pairs(_band_keys(sig, bands, rows))

    # Jaccard estimates of the candidate pairs; keep those at or above the threshold.
    lo_parts, hi_parts, j_parts = [], [], []
    for c0 in range(0, pairs.size, _PAIR_CHUNK):
        chunk = pairs[c0 : c0 + _PAIR_CHUNK]
        lo, hi = chunk // n, chunk % n
        j = np.count_nonzero(sig[lo] == sig[hi], axis=1) / np.float64(num_perm)
        keep = j >= threshold
        lo_parts.append(lo[keep])
        hi_parts.append(hi[keep])
        j_parts.append(j[keep])
    if not lo_parts:
        return {}
    lo, hi, jac = (np.concatenate(x) for x in (lo_parts, hi_parts, j_parts))
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
