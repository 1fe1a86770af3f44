"""Suite for ``documents``: manuals, SOPs, reports and tickets as text."""

from __future__ import annotations

from quality.spec import ExpectationSpec
from quality.suites._build import in_set, lengths, not_null, row_count, unique


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("doc_id_not_null", "doc_id"),
        unique("doc_id_unique", "doc_id", severity="warn"),
        not_null("text_not_null", "text"),
        lengths("text_length", "text", 1, None, desc="text is not empty"),
        in_set("doc_type_in_set", "doc_type", ["manual", "sop", "report", "ticket"], severity="warn"),
    ]
