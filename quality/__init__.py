"""Data quality for corpusmill: GX 1.x suites, a Polars fast engine, quarantine, reports.

Importing this package is cheap: Great Expectations is imported only inside the functions that
need it (the GX engine, Data Docs), through :mod:`quality._gx`, which switches analytics off first.
Only :mod:`quality.checks` imports Dagster.
"""

from __future__ import annotations
