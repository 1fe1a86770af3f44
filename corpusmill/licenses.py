"""Licence families: which licences a corpus may mix without a warning.

A small table, not legal advice: enough to flag a corpus that mixes a non-commercial or proprietary
source with permissively licensed ones.
"""

from __future__ import annotations

import re

FAMILIES: dict[str, str] = {
    **dict.fromkeys(
        ["MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "CC0-1.0", "CC-BY-4.0",
         "CC-BY-3.0", "ODC-By-1.0", "PDDL-1.0", "Unlicense", "CDLA-Permissive-2.0"],
        "permissive",
    ),  # fmt: skip
    **dict.fromkeys(
        ["CC-BY-SA-4.0", "CC-BY-SA-3.0", "ODbL-1.0", "GPL-3.0-only", "GPL-2.0-only",
         "LGPL-3.0-only", "CDLA-Sharing-1.0"],
        "share-alike",
    ),  # fmt: skip
    **dict.fromkeys(
        ["CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", "CC-BY-NC-ND-4.0", "CC-BY-NC-3.0"], "non-commercial"
    ),
}

_SPDX_LOOKING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")
RESTRICTED = ("non-commercial", "proprietary")


def family(license: str | None) -> str:
    """``permissive``, ``share-alike``, ``non-commercial``, ``proprietary`` or ``unknown``."""
    if not license:
        return "unknown"
    if license in FAMILIES:
        return FAMILIES[license]
    low = license.lower()
    if low.startswith("licenseref-") or "proprietary" in low or "internal" in low:
        return "proprietary"
    if "-nc" in low or "non-commercial" in low or "noncommercial" in low:
        return "non-commercial"
    return "unknown"


def unknown_spdx(license: str) -> bool:
    """A value that looks like an SPDX id (one token) but is not one this table knows."""
    return (
        bool(_SPDX_LOOKING.match(license))
        and license not in FAMILIES
        and not license.lower().startswith("licenseref-")
        and license.lower() != "proprietary"
    )


def mixing_warning(licenses: list[str | None]) -> str | None:
    """A warning line when restricted licences are mixed with others, else None."""
    families = {family(x) for x in licenses}
    restricted = sorted(families & set(RESTRICTED))
    if restricted and len(families) > 1:
        others = sorted(families - set(restricted))
        return (
            f"WARNING: sources of incompatible licences are mixed: {', '.join(restricted)} with "
            f"{', '.join(others)}; check the terms before using or sharing this corpus."
        )
    return None
