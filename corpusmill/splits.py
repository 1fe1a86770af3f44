"""Leak-free splits by group key: every row of one lot (batch, machine ...) lands on one side."""

from __future__ import annotations

import hashlib

import polars as pl


def split_by_key(
    keys: pl.Series, *, seed: int, test_fraction: float, val_fraction: float
) -> pl.Series:
    """``train`` / ``val`` / ``test`` per row, decided per distinct key.

    The distinct keys are ranked by SHA-256 of ``"<seed>:<key>"``; the first ``test_fraction`` of
    them are test, the next ``val_fraction`` validation, the rest (and null keys) train. The same
    keys and seed always give the same split, whatever order the rows come in.
    """
    distinct = sorted({k for k in keys.to_list() if k is not None})
    ranked = sorted(distinct, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).digest())
    n = len(ranked)
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    names = {k: "test" if i < n_test else "val" if i < n_test + n_val else "train"
             for i, k in enumerate(ranked)}  # fmt: skip
    return keys.replace_strict(names, default="train", return_dtype=pl.String)
