"""Suite for the ``image_corpus`` corpus; its column types come from the corpus registry."""

from __future__ import annotations

from quality.spec import ExpectationSpec
from quality.suites._build import in_set, not_null, row_count, unique


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("image_id_not_null", "image_id"),
        unique("image_id_unique", "image_id"),
        unique("sha256_unique", "sha256"),
        not_null("image_path_not_null", "image_path"),
        in_set("split_in_set", "split", ["train", "val", "test"]),
    ]
