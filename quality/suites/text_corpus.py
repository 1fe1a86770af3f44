"""Suite for the ``text_corpus`` corpus."""

from __future__ import annotations

import polars as pl

from quality.spec import ExpectationSpec
from quality.suites._build import between, not_null, row_count, unique

SCHEMA = pl.Schema(
    {
        "doc_id": pl.String(), "source_table": pl.String(), "source_id": pl.String(),
        "language": pl.String(), "text": pl.String(), "n_chars": pl.Int64(),
        "n_tokens": pl.Int64(), "sha256": pl.String(), "equipment_id": pl.String(),
        "_source": pl.String(), "_file": pl.String(), "_row": pl.Int64(),
    }
)  # fmt: skip


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("doc_id_not_null", "doc_id"),
        unique("doc_id_unique", "doc_id"),
        not_null("text_not_null", "text"),
        between("n_tokens_positive", "n_tokens", 0, None, strict_min=True, desc="n_tokens > 0"),
        unique("sha256_unique", "sha256", desc="no exact duplicates survive dedup"),
    ]
