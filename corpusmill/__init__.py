"""corpusmill: fragmented factory data in, validated and versioned training corpora out.

For notebooks, :func:`connect` opens the home's DuckDB catalog in a read-only sandbox::

    import corpusmill
    con = corpusmill.connect("/path/to/home")   # default: $CORPUSMILL_HOME, then ./.corpusmill
    con.sql("select * from corpus_versions").pl()
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from corpusmill.home import Home
    from corpusmill.sandbox import Sandbox

__all__ = ["connect"]

#: Row groups polars' Parquet reader decodes ahead of the one it hands on. Its default (10, at
#: least the CPU count) keeps about ten row groups of 1 M rows decoded per scan: a 20 M-row scan
#: of the readings peaked at 2.3 GiB, and at 0.64 GiB with 1, as fast on local disk. Every scan
#: in the pipeline streams, so one row group ahead is enough; polars reads the variable when a
#: query runs, and a value set in the environment wins (raise it for a lake on high-latency
#: object storage).
os.environ.setdefault("POLARS_ROW_GROUP_PREFETCH_SIZE", "1")


def connect(home: str | os.PathLike[str] | Home | None = None) -> Sandbox:
    """A sandboxed, read-only connection to a home's catalog (:func:`corpusmill.sandbox.connect`).

    Runs one SELECT (or EXPLAIN/DESCRIBE/SHOW/SUMMARIZE) per call and refuses writes, settings,
    ATTACH/COPY/INSTALL and several statements with :class:`corpusmill.sandbox.QueryRefused`.
    """
    from corpusmill import sandbox, storage
    from corpusmill.home import resolve_home

    h = resolve_home(home)
    if not h.catalog.exists() and not storage.exists(h.lake):
        raise FileNotFoundError(
            f"no corpusmill home at {h.root} (no catalog.duckdb, no lake/): pass home= the folder "
            "you ran `corpusmill run --home ...` or `corpusmill demo --home ...` with"
        )
    return sandbox.connect(h)
