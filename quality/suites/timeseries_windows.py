"""Suite for the ``timeseries_windows`` corpus; its column types come from the corpus registry."""

from __future__ import annotations

from quality.spec import ExpectationSpec
from quality.suites._build import in_set, not_null, pair_greater, row_count, unique


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("window_id_not_null", "window_id"),
        unique("window_id_unique", "window_id"),
        pair_greater("end_after_start", "end_utc", "start_utc", desc="end_utc > start_utc"),
        in_set("label_in_set", "label", [0, 1]),
        in_set("split_in_set", "split", ["train", "val", "test"]),
    ]
