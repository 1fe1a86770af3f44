"""Suite for ``production_events``: work orders, batches and lots."""

from __future__ import annotations

from quality.spec import ExpectationSpec
from quality.suites._build import between, in_set, not_null, pair_greater, row_count


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("event_id_not_null", "event_id"),
        not_null("equipment_id_not_null", "equipment_id"),
        in_set("event_type_in_set", "event_type", ["work_order", "batch", "lot"], severity="warn"),
        between("quantity_planned_range", "quantity_planned", 0, None),
        between("quantity_good_range", "quantity_good", 0, None),
        between("quantity_scrap_range", "quantity_scrap", 0, None),
        pair_greater("end_after_start", "end_utc", "start_utc", or_equal=True,
                     desc="an event does not end before it starts"),  # fmt: skip
    ]
