"""The compiled (numba) loops of near dedup: distinct shingles, MinHash signatures, LSH band keys
and the similar pairs within a band. :mod:`corpusmill.text.dedup` calls them; they are a module
of their own so that importing the corpus registry does not import numba.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _slot_count(lens: np.ndarray, k: int) -> int:
    """Shingle slots of texts of lengths ``lens``: a text's k-windows, one for a text shorter than
    ``k``, none for an empty text."""
    n = 0
    for i in range(lens.size):
        n += lens[i] - k + 1 if lens[i] >= k else (1 if lens[i] > 0 else 0)
    return n


@numba.njit(cache=True)
def window_codes(
    cps: np.ndarray, starts: np.ndarray, lens: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct shingles of every text: ``(code per shingle slot, first start of each code)``.

    Text ``i`` is ``cps[starts[i]:starts[i] + lens[i]]``; its slots are its k-windows in order (a
    text shorter than ``k`` has one slot, code -1, an empty text none). An open-addressing table
    keyed by a 64-bit hash of the window, every hit confirmed by comparing the code points, so equal
    codes mean equal shingles.
    """
    codes = np.full(_slot_count(lens, k), -1, np.int64)
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
def window_codes_packed(
    cps: np.ndarray, starts: np.ndarray, lens: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`window_codes` for ``k <= 6``: a window's code points (21 bits each) pack exactly
    into two 64-bit words, which are the table's key, so a lookup touches one table row."""
    codes = np.full(_slot_count(lens, k), -1, np.int64)
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


@numba.njit(parallel=True, cache=True)
def min_affine(hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
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


@numba.njit(cache=True)
def band_keys(sig: np.ndarray, b: int, r: int) -> np.ndarray:
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
def similar_in_runs(
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
