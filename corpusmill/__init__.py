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
