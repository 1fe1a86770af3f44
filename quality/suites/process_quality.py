"""Suite for the ``process_quality`` corpus; its column types come from the corpus registry."""

from __future__ import annotations

from quality.spec import ExpectationSpec
from quality.suites._build import between, in_set, not_null, row_count, unique


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("unit_id_not_null", "unit_id"),
        unique("unit_id_unique", "unit_id"),
        not_null("lot_key_not_null", "lot_key"),
        in_set("kind_in_set", "kind", ["batch", "event"]),
        in_set("result_in_set", "result", ["pass", "fail"]),
        between("n_readings_positive", "n_readings", 1, None),
        in_set("split_in_set", "split", ["train", "val", "test"]),
    ]
