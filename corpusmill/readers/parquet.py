"""Parquet files: scanned lazily with their own types, row count from the file metadata."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from corpusmill.readers.errors import ReaderError
from corpusmill.readers.results import ReadResult, _rejects


def _read_parquet(path: str, local: Path) -> ReadResult:
    import pyarrow.parquet as pq

    try:
        n = pq.ParquetFile(local).metadata.num_rows
    except Exception as e:  # pyarrow raises ArrowInvalid and friends
        msg = f"{path}: not a Parquet file: {e}"
        raise ReaderError(msg) from None
    lf = pl.scan_parquet(local).with_row_index("_row", offset=1)
    cols = [c for c in lf.collect_schema().names() if c != "_row"]
    lf = lf.select(*cols, pl.col("_row").cast(pl.Int64))
    return ReadResult(lf, cols, None, _rejects([]), n)
