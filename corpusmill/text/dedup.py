"""Deduplication: exact (sha256 of the text) and near (MinHash LSH over character shingles).

Near dedup hashes the shingles the way datasketch's ``MinHash`` does by default and runs its hot
loops (distinct shingles, signatures, band keys and band pairs) compiled with numba.

Both keep the lowest ``doc_id`` (string order) and name it in the reason of every document they
drop, so an excluded row always says whom it duplicates.
"""

from __future__ import annotations

import functools
import hashlib

import numba
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


@numba.njit(cache=True)
def _window_codes(
    cps: np.ndarray, starts: np.ndarray, lens: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct shingles of every text: ``(code per shingle slot, first start of each code)``.

    Text ``i`` is ``cps[starts[i]:starts[i] + lens[i]]``; its slots are its k-windows in order (a
    text shorter than ``k`` has one slot, code -1, an empty text none). An open-addressing table
    keyed by a 64-bit hash of the window, every hit confirmed by comparing the code points, so equal
    codes mean equal shingles.
    """
    n_slots = 0
    for i in range(lens.size):
        n_slots += lens[i] - k + 1 if lens[i] >= k else (1 if lens[i] > 0 else 0)
    codes = np.full(n_slots, -1, np.int64)
    cap = 1 << 16
    slots = np.full(cap, -1, np.int64)  # table slot -> code
    keys = np.zeros(cap, np.uint64)
    first = np.empty(1024, np.int64)
    n_distinct = 0
    out = 0
    for i in range(lens.size):
        if lens[i] < k:
            out += 1 if lens[i] > 0 else 0
            continue
        for s in range(starts[i], starts[i] + lens[i] - k + 1):
            h = np.uint64(0xCBF29CE484222325)
            for j in range(k):
                h = (h ^ np.uint64(cps[s + j])) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(31)
            h *= np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(29)
            t = np.int64(h & np.uint64(cap - 1))
            code = -1
            while slots[t] >= 0:
                if keys[t] == h:
                    f = first[slots[t]]
                    same = True
                    for j in range(k):
                        if cps[f + j] != cps[s + j]:
                            same = False
                            break
                    if same:
                        code = slots[t]
                        break
                t = (t + 1) & (cap - 1)
            if code < 0:
                if n_distinct == first.size:
                    grown = np.empty(first.size * 2, np.int64)
                    grown[:n_distinct] = first[:n_distinct]
                    first = grown
                code = n_distinct
                first[code] = s
                slots[t] = code
                keys[t] = h
                n_distinct += 1
                if 2 * n_distinct > cap:  # keep the load under one half: rehash into 2x slots
                    cap *= 2
                    new_slots = np.full(cap, -1, np.int64)
                    new_keys = np.zeros(cap, np.uint64)
                    for old in range(slots.size):
                        if slots[old] >= 0:
                            t2 = np.int64(keys[old] & np.uint64(cap - 1))
                            while new_slots[t2] >= 0:
                                t2 = (t2 + 1) & (cap - 1)
                            new_slots[t2] = slots[old]
                            new_keys[t2] = keys[old]
                    slots, keys = new_slots, new_keys
            codes[out] = code
            out += 1
    return codes, first[:n_distinct].copy()


#: An empty table row (a packed window never has bit 63 set).
_EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)


@numba.njit(cache=True)
def _slot(lo: np.uint64, hi: np.uint64, bits: int) -> np.uint64:
    h = (lo ^ (hi * np.uint64(0x9E3779B97F4A7C15))) * np.uint64(0xBF58476D1CE4E5B9)
    return h >> np.uint64(64 - bits)


@numba.njit(cache=True)
def _window_codes_packed(
    cps: np.ndarray, starts: np.ndarray, lens: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_window_codes` for ``k <= 6``: a window's code points (21 bits each) pack exactly
    into two 64-bit words, which are the table's key, so a lookup touches one table row."""
    n_slots = 0
    for i in range(lens.size):
        n_slots += lens[i] - k + 1 if lens[i] >= k else (1 if lens[i] > 0 else 0)
    codes = np.full(n_slots, -1, np.int64)
    bits = 16
    table = np.full((1 << bits, 3), _EMPTY, np.uint64)  # rows: (lo word, hi word, code)
    first = np.empty(1024, np.int64)
    n_distinct = 0
    out = 0
    for i in range(lens.size):
        if lens[i] < k:
            out += 1 if lens[i] > 0 else 0
            continue
        for s in range(starts[i], starts[i] + lens[i] - k + 1):
            lo = np.uint64(0)
            hi = np.uint64(0)
            for j in range(k):
                if j < 3:
                    lo |= np.uint64(cps[s + j]) << np.uint64(21 * j)
                else:
                    hi |= np.uint64(cps[s + j]) << np.uint64(21 * (j - 3))
            mask = (1 << bits) - 1
            t = np.int64(_slot(lo, hi, bits))
            while table[t, 0] != _EMPTY and (table[t, 0] != lo or table[t, 1] != hi):
                t = (t + 1) & mask
            if table[t, 0] != _EMPTY:
                codes[out] = np.int64(table[t, 2])
                out += 1
                continue
            if n_distinct == first.size:
                grown = np.empty(first.size * 2, np.int64)
                grown[:n_distinct] = first[:n_distinct]
                first = grown
            first[n_distinct] = s
            table[t, 0] = lo
            table[t, 1] = hi
            table[t, 2] = np.uint64(n_distinct)
            codes[out] = n_distinct
            out += 1
            n_distinct += 1
            if 2 * n_distinct > (1 << bits):  # keep the load under one half: rehash, 2x rows
                bits += 1
                grown_t = np.full((1 << bits, 3), _EMPTY, np.uint64)
                for old in range(table.shape[0]):
                    if table[old, 0] != _EMPTY:
                        t2 = np.int64(_slot(table[old, 0], table[old, 1], bits))
                        while grown_t[t2, 0] != _EMPTY:
                            t2 = (t2 + 1) & ((1 << bits) - 1)
                        grown_t[t2, 0] = table[old, 0]
                        grown_t[t2, 1] = table[old, 1]
                        grown_t[t2, 2] = table[old, 2]
                table = grown_t
    return codes, first[:n_distinct].copy()


def _bulk_shingles(texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of every text at once: ``(hashes uint32, counts per text int64)``.

    The same values as :func:`shingle_hashes` per text (without its de-duplication, which does not
    change a minimum). All normalised texts are joined into one array of code points; the k-windows
    that lie inside a text are mapped to distinct shingles (:func:`_window_codes`), and only the
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
    window_codes = _window_codes_packed if k <= 6 else _window_codes
    codes, first = window_codes(cps, starts, lens, k)
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


@numba.njit(parallel=True, cache=True)
def _min_affine(hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per document ``i`` (shingles ``offsets[i]:offsets[i+1]`` of ``hashes``) and permutation
    ``p``: the minimum of ``a[p] * fmix32(h) + b[p] mod 2**32`` (0xFFFFFFFF for no shingles)."""
    n = offsets.size - 1
    num_perm = a.size
    sig = np.full((n, num_perm), np.uint32(0xFFFFFFFF), np.uint32)
    for i in numba.prange(n):
        row = np.full(num_perm, np.uint32(0xFFFFFFFF), np.uint32)
        for s in range(offsets[i], offsets[i + 1]):
            h = np.uint64(hashes[s])  # MurmurHash3's fmix32, as datasketch pre-mixes
            h ^= h >> np.uint64(16)
            h = (h * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
            h ^= h >> np.uint64(13)
            h = (h * np.uint64(0xC2B2AE35)) & np.uint64(0xFFFFFFFF)
            h ^= h >> np.uint64(16)
            m = np.uint32(h)
            for p in range(num_perm):
                row[p] = min(row[p], np.uint32(a[p] * m + b[p]))
        sig[i] = row
    return sig


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

    perms = MinHash(num_perm=num_perm, seed=seed).permutations
    a, b = (np.asarray(x, dtype=np.uint32) for x in perms)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return _min_affine(np.ascontiguousarray(hashes, dtype=np.uint32), offsets, a, b)


@numba.njit(cache=True)
def _band_keys(sig: np.ndarray, b: int, r: int) -> np.ndarray:
    """(b x n_docs) uint64 key per LSH band (a 64-bit hash of the band's r values)."""
    n = sig.shape[0]
    keys = np.empty((b, n), dtype=np.uint64)
    for i in range(n):
        for band in range(b):
            h = np.uint64(0xCBF29CE484222325)
            for col in range(band * r, (band + 1) * r):
                h = (h ^ np.uint64(sig[i, col])) * np.uint64(0x100000001B3)
                h ^= h >> np.uint64(29)
            keys[band, i] = h
    return keys


@numba.njit(cache=True)
def _similar_in_runs(
    orders: np.ndarray, sorted_keys: np.ndarray, sig: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of documents that share a band key (equal neighbours in a band's sorted keys) and
    whose Jaccard estimate (share of equal signature values) is at least ``threshold``:
    ``(lo, hi, estimate)`` with lo < hi; a pair sharing several bands appears once per band."""
    num_perm = sig.shape[1]
    cap = 1 << 16
    lo = np.empty(cap, np.int64)
    hi = np.empty(cap, np.int64)
    jac = np.empty(cap, np.float64)
    k = 0
    for band in range(orders.shape[0]):
        order = orders[band]
        keys = sorted_keys[band]
        m = keys.size
        r0 = 0
        for i in range(1, m + 1):
            if i < m and keys[i] == keys[r0]:
                continue
            for x in range(r0, i):
                for y in range(x + 1, i):
                    u, v = order[x], order[y]
                    eq = 0
                    for p in range(num_perm):
                        if sig[u, p] == sig[v, p]:
                            eq += 1
                    j = eq / num_perm
                    if j >= threshold:
                        if k == cap:
                            cap *= 2
                            lo2 = np.empty(cap, np.int64)
                            hi2 = np.empty(cap, np.int64)
                            jac2 = np.empty(cap, np.float64)
                            lo2[:k] = lo[:k]
                            hi2[:k] = hi[:k]
                            jac2[:k] = jac[:k]
                            lo, hi, jac = lo2, hi2, jac2
                        lo[k] = min(u, v)
                        hi[k] = max(u, v)
                        jac[k] = j
                        k += 1
            r0 = i
    return lo[:k].copy(), hi[:k].copy(), jac[:k].copy()


def _similar_pairs(
    sig: np.ndarray, bands: int, rows: int, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct LSH candidate pairs (sharing at least one band) at or above ``threshold``:
    ``(lo, hi, estimate)``, lo < hi."""
    n = sig.shape[0]
    keys = _band_keys(sig, bands, rows)
    orders = np.argsort(keys, axis=1)  # the order within a run does not change the pairs
    sorted_keys = np.take_along_axis(keys, orders, axis=1)
    lo, hi, jac = _similar_in_runs(orders, sorted_keys, sig, float(threshold))
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
