"""Progress of long ingest work, reported to whoever is watching (plain Python, no UI library).

Ingest tells the current :class:`Progress` when a source starts (how many files and bytes it
will read), as rows stream through the mapper, and when each file is done. Nobody watching is the
default (:class:`Progress` does nothing); the command line installs a rich display for the
length of a run with :func:`watching`, so ``corpusmill run`` shows per source the files done, rows
read, rows per second and the time left (estimated from the bytes still to read).

The watcher is process-wide, not per thread: rows are counted in the prefetch thread that reads
and maps the files while the Delta writer writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class Progress:
    """A watcher of ingest work. Every method does nothing; subclasses show what they need."""

    def source_started(self, source: str, *, files: int, nbytes: int) -> None:
        """``source`` is about to read ``files`` new or changed files of ``nbytes`` bytes."""

    def rows_read(self, source: str, rows: int) -> None:
        """``rows`` more rows of ``source`` were read and mapped (kept or quarantined)."""

    def file_done(self, source: str, file: str, *, nbytes: int) -> None:
        """One file of ``source`` (``nbytes`` bytes) was read to its end or found unreadable."""

    def source_done(self, source: str) -> None:
        """``source`` finished (its rows are committed)."""


@dataclass
class SourceTally:
    """What :class:`Tally` counted for one source."""

    files_total: int
    bytes_total: int
    files: int = 0
    bytes: int = 0
    rows: int = 0
    done: bool = False


class Tally(Progress):
    """A watcher that only counts, per source (for tests and for callers that poll)."""

    def __init__(self) -> None:
        self.sources: dict[str, SourceTally] = {}
        self._lock = threading.Lock()

    def source_started(self, source: str, *, files: int, nbytes: int) -> None:
        with self._lock:
            self.sources[source] = SourceTally(files, nbytes)

    def rows_read(self, source: str, rows: int) -> None:
        with self._lock:
            self.sources[source].rows += rows

    def file_done(self, source: str, file: str, *, nbytes: int) -> None:
        with self._lock:
            t = self.sources[source]
            t.files += 1
            t.bytes += nbytes

    def source_done(self, source: str) -> None:
        with self._lock:
            self.sources[source].done = True


_NOBODY = Progress()
_current: Progress = _NOBODY


def current() -> Progress:
    """The watcher of this process (one that does nothing when nobody watches)."""
    return _current


@contextmanager
def watching(progress: Progress) -> Iterator[Progress]:
    """Make ``progress`` the process's watcher for the ``with`` block."""
    global _current
    before, _current = _current, progress
    try:
        yield progress
    finally:
        _current = before
