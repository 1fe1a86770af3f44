"""Suite for the ``sft_pairs`` corpus; its column types come from the corpus registry."""

from __future__ import annotations

from quality.spec import ExpectationSpec
from quality.suites._build import not_null, row_count, unique


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("pair_id_not_null", "pair_id"),
        unique("pair_id_unique", "pair_id"),
        not_null("instruction_not_null", "instruction"),
        not_null("response_not_null", "response"),
    ]
