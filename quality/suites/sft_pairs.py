"""Suite for the ``sft_pairs`` corpus."""

from __future__ import annotations

import polars as pl

from quality.spec import ExpectationSpec
from quality.suites._build import not_null, row_count, unique

SCHEMA = pl.Schema(
    {
        "pair_id": pl.String(), "instruction": pl.String(), "response": pl.String(),
        "language": pl.String(), "record_id": pl.String(), "equipment_id": pl.String(),
    }
)  # fmt: skip


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("pair_id_not_null", "pair_id"),
        unique("pair_id_unique", "pair_id"),
        not_null("instruction_not_null", "instruction"),
        not_null("response_not_null", "response"),
    ]
