"""Ground-truth bookkeeping: the check codes, a tally per source, and defect injection.

Every defect sits on its own row, so each source's tally adds up exactly:
``units_in == kept + sum(quarantined)``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Check codes: the contract with ingest (first four), standardize and the GX suites.
NON_NUMERIC = "non_numeric"
BAD_TIMESTAMP = "bad_timestamp"
RAGGED_ROW = "ragged_row"
UNKNOWN_EQUIPMENT = "unknown_equipment"
DUPLICATE = "duplicate"
NOT_NULL = "expect_column_values_to_not_be_null"
BETWEEN = "expect_column_values_to_be_between"

Row = list[str]


@dataclass
class Tally:
    """Ground truth of one source, filled in as its files are written."""

    kind: str
    table: str
    unit: str = "rows"
    files: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantined: Counter[str] = field(default_factory=Counter)

    def add_file(self, rel: str, rows: int, units: int | None = None) -> None:
        self.files[rel] = {"rows": rows, "units_in": rows if units is None else units}

    def as_dict(self) -> dict[str, Any]:
        units_in = sum(f["units_in"] for f in self.files.values())
        quarantined = {k: v for k, v in sorted(self.quarantined.items()) if v}
        return {
            "kind": self.kind,
            "table": self.table,
            "unit": self.unit,
            "files": dict(sorted(self.files.items())),
            "units_in": units_in,
            "kept": units_in - sum(quarantined.values()),
            "quarantined": quarantined,
        }


def tally_for(kind: str, unit: str = "rows") -> Tally:
    from corpusmill.canonical import KIND_TABLE

    return Tally(kind, KIND_TABLE[kind], unit)


def spread(plan: Mapping[str, int], n_files: int, rng: random.Random) -> list[Counter[str]]:
    """Deal each defect of a source's plan to a random file."""
    parts: list[Counter[str]] = [Counter() for _ in range(n_files)]
    for check in sorted(plan):
        for _ in range(plan[check]):
            parts[rng.randrange(n_files)][check] += 1
    return parts


def inject(
    rows: list[Row],
    plan: Mapping[str, int],
    mutate: Callable[[str, Row, random.Random], Row],
    rng: random.Random,
    *,
    protect: int = 0,
) -> None:
    """Inject the defects of ``plan`` into distinct clean rows of one file, in place.

    Every check but ``duplicate`` rewrites one row with ``mutate(check, row, rng)``; ``duplicate``
    inserts an exact copy of a clean row somewhere after it. The last ``protect`` rows stay as
    they are (the truncated tail of a file stays last).
    """
    edits = [check for check in sorted(plan) if check != DUPLICATE for _ in range(plan[check])]
    n_dup = plan.get(DUPLICATE, 0)
    picked = rng.sample(range(len(rows) - protect), len(edits) + n_dup)
    for check, i in zip(edits, picked, strict=False):
        rows[i] = mutate(check, list(rows[i]), rng)
    for i in sorted(picked[len(edits) :], reverse=True):
        rows.insert(rng.randint(i + 1, len(rows) - protect), list(rows[i]))


def scaled(plan: Mapping[str, int], scale: int) -> dict[str, int]:
    return {check: n * scale for check, n in plan.items()}


#: What a writer returns per source: its ``sources.yaml`` entry and its ground truth.
Written = tuple[dict[str, Any], Tally]
