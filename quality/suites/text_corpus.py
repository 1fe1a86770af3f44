"""Suite for the ``text_corpus`` corpus; its column types come from the corpus registry."""

from __future__ import annotations

from quality.spec import ExpectationSpec
from quality.suites._build import between, not_null, row_count, unique


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("doc_id_not_null", "doc_id"),
        unique("doc_id_unique", "doc_id"),
        not_null("text_not_null", "text"),
        between("n_tokens_positive", "n_tokens", 0, None, strict_min=True, desc="n_tokens > 0"),
        unique("sha256_unique", "sha256", desc="no exact duplicates survive dedup"),
    ]
