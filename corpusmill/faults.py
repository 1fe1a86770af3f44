"""Named crash points, so tests can kill a run with SIGKILL at an exact place.

A crash point costs one environment lookup. ``CORPUSMILL_CRASH_AT=NAME`` kills the process the
first time it reaches ``NAME``; ``NAME@TEXT`` only where the point's detail (usually a table path)
contains ``TEXT``. Points: ``lake.write.before``, ``lake.write.after`` (every Delta commit; detail
= the table path), ``corpus.manifest.before`` (a corpus version committed, its manifest file not yet
written), ``catalog.replace.before`` (a refreshed catalog copy built, not yet renamed into place)
and ``shard.replace.before`` (a shard file written to its temporary name).
"""

from __future__ import annotations

import os
import signal

ENV = "CORPUSMILL_CRASH_AT"


def crash_point(name: str, detail: object = "") -> None:
    """Die here, as abruptly as a power cut, when ``$CORPUSMILL_CRASH_AT`` names this point."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    want, _, text = spec.partition("@")
    if want == name and text in str(detail):
        os.kill(os.getpid(), signal.SIGKILL)
