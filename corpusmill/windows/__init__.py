"""Sensor windows: aligned multichannel windows per equipment, labelled and split without leaks.

:func:`build_windows` turns canonical ``sensor_readings`` (long) and ``maintenance_records`` into
the ``timeseries_windows`` corpus. The exact rules are in ``docs/corpora-windows.md``; in short:

* **Grid.** Readings are bucketed on a ``resample`` grid anchored at the Unix epoch (absolute
  clock) or at the batch start (relative clock); a bucket holds the mean of its readings; an empty
  bucket takes the previous bucket's mean (forward fill of at most one bucket), else stays null.
* **Windows.** Windows of ``window`` start every ``step`` on that grid (anchored the same way).
  Channels are the equipment's signals, sorted. A window without a single value is not a
  candidate (counted in ``stats["empty_windows"]``); a window with fewer than ``min_coverage``
  non-null cells is excluded with its coverage as the reason.
* **Labels.** ``label = 1`` when a corrective maintenance record on the same equipment starts in
  ``[end, end + horizon)``; the earliest such ``record_id`` is ``label_reason``. A window inside
  which a failure starts is excluded (it shows the failure, not its lead-up).
* **Splits.** With at least ``min_equipment_for_holdout`` machines, whole machines are held out
  for test and the rest are cut train|val at one time boundary per machine; otherwise each
  machine is cut train|val|test by time. A window whose span plus horizon crosses a boundary is
  excluded. Relative-clock batches are split by ``batch_id``.

Everything is deterministic: hashes (not random draws) pick the held-out machines and batches.
"""

from corpusmill.windows.build import (
    EXCLUDED_SCHEMA,
    EXCLUSION_CHECKS,
    WINDOWS_SCHEMA,
    build_windows,
)
from corpusmill.windows.config import WindowConfig, duration_us

__all__ = [
    "EXCLUDED_SCHEMA",
    "EXCLUSION_CHECKS",
    "WINDOWS_SCHEMA",
    "WindowConfig",
    "build_windows",
    "duration_us",
]
