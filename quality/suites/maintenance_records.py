"""Suite for ``maintenance_records``: CMMS work orders with free text."""

from __future__ import annotations

from quality.spec import ExpectationSpec
from quality.suites._build import between, not_null, pair_greater, row_count


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("record_id_not_null", "record_id"),
        not_null("equipment_id_not_null", "equipment_id"),
        not_null("text_not_null", "text", severity="warn"),
        between("cost_range", "cost", 0, None, desc="cost is not negative"),
        pair_greater("completed_after_reported", "completed_utc", "reported_utc", or_equal=True,
                     severity="warn"),  # fmt: skip
    ]
