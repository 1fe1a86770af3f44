"""Suite for ``inspection_images``: image bytes with checksum and labels."""

from __future__ import annotations

from quality.spec import ExpectationSpec
from quality.suites._build import between, not_null, regex, row_count


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None),
        not_null("image_id_not_null", "image_id"),
        not_null("sha256_not_null", "sha256"),
        regex("sha256_format", "sha256", r"^[0-9a-f]{64}$", desc="sha256 is 64 lower-case hex digits"),
        between("size_bytes_range", "size_bytes", 1, None, desc="size_bytes > 0"),
        between("width_range", "width", 1, None, severity="warn"),
        between("height_range", "height", 1, None, severity="warn"),
    ]
