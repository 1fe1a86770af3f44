"""Suite for ``quality_inspections``: measured characteristics with spec limits."""

from __future__ import annotations

from quality.spec import Cond, ExpectationSpec
from quality.suites._build import in_set, not_null, pair_greater, row_count


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("inspection_id_not_null", "inspection_id"),
        not_null("characteristic_not_null", "characteristic"),
        # A variable inspection (one with an upper spec limit) without its measured value is a
        # reading lost between gauge and sheet: quarantined. Attribute inspections (no limits) may
        # carry only a result. Hand-kept lab sheets lose the odd reading, so up to 5% is sporadic.
        not_null("value_not_null", "value", mostly=0.95, where=(Cond("usl", "is_not_null"),),
                 desc="a variable inspection (with spec limits) carries its measured value"),  # fmt: skip
        in_set("result_in_set", "result", ["pass", "fail"]),
        pair_greater("usl_ge_lsl", "usl", "lsl", or_equal=True, desc="lsl <= usl"),
    ]
