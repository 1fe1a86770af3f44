"""Automation: how assets keep themselves up to date, how fresh they must be, and retries.

- ``EAGER``: standardize, validate and corpora assets materialize after any upstream
  materialization, so a new source file that the sensor ingests flows on to the corpora; the shard
  plans (one partition per training job) follow new corpus versions through
  ``corpus_version_sensor`` (pipelines/sensors.py).
- ``TABLE_FRESHNESS`` / ``CORPUS_FRESHNESS``: canonical tables and corpora are stale when older
  than the nightly sweep plus slack (the UI and the freshness checks show it).
- ``INGEST_RETRY``: ingest reads files from shares and object stores, where timeouts and dropped
  connections happen; those are retried with exponential backoff. Errors in the data or the config
  are not retried (:func:`not_retried` turns them into a ``Failure(allow_retries=False)``).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

#: Materialize after any upstream asset was materialized (and once it first can be).
EAGER = dg.AutomationCondition.eager()

#: Canonical tables: the nightly sweep (02:00 UTC) refreshes them; warn after a day, fail after two.
TABLE_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=48), warn_window=dt.timedelta(hours=26)
)
#: Corpora follow their tables eagerly: the same windows.
CORPUS_FRESHNESS = TABLE_FRESHNESS

#: Up to 3 retries after 5 s, 10 s, 20 s (each +-50% jitter so retrying workers spread out).
INGEST_RETRY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL,
                              jitter=dg.Jitter.PLUS_MINUS)  # fmt: skip

#: OSErrors that are about the request, not the weather: retrying them cannot help.
_PERMANENT_OS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def is_transient(exc: BaseException) -> bool:
    """A timeout, a dropped connection or another I/O error that may pass when retried."""
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, _PERMANENT_OS)


def not_retried(exc: Exception, *, partition: str | None = None) -> dg.Failure:
    """The ``Failure`` to raise from ``exc`` when it is not transient: the run fails at once.

    The partition (the source, for ingest) rides along as metadata, so ``corpusmill run`` can name
    it in its one-line failure report.
    """
    meta = {"partition": partition} if partition else {}
    return dg.Failure(description=str(exc), metadata=meta, allow_retries=False)
