"""Suite for ``quality_inspections``: measured characteristics with spec limits."""

from __future__ import annotations

from quality.spec import ExpectationSpec
from quality.suites._build import in_set, not_null, pair_greater, row_count


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("inspection_id_not_null", "inspection_id"),
        not_null("characteristic_not_null", "characteristic"),
        not_null("value_not_null", "value", severity="warn",
                 desc="attribute inspections may carry only a result"),  # fmt: skip
        in_set("result_in_set", "result", ["pass", "fail"]),
        pair_greater("usl_ge_lsl", "usl", "lsl", or_equal=True, desc="lsl <= usl"),
    ]
