"""A large sensor table read a few machines at a time, so a corpus build holds one group, not the table.

The sensor corpora (``timeseries_windows``, ``process_quality``) compute everything per machine:
windows, labels, batches and the readings of a work order all belong to one ``equipment_id``. A
:class:`ByEquipment` packs whole machines into groups of about ``rows`` rows (a machine with more
rows than that is a group of its own) and yields each group's rows as a frame, read from the table
with a filter on ``equipment_id`` (rows without one form their own group). Builders iterate it and
combine the per-group results, which are far smaller than the readings; the whole-table steps
(splits, holdouts) run on those.

A frame already in memory is wrapped as one group (:meth:`ByEquipment.of`), so builders have one
code path whether they get a test frame or a lake table of 50 M rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

#: Rows per group of machines: a sensor corpus build holds about this many readings at once
#: (about 0.3 KiB per reading at its peak, so ~0.7 GiB).
GROUP_ROWS = 2_000_000


@dataclass(frozen=True)
class ByEquipment:
    """A sensor table (lazy or in memory) in groups of whole machines.

    Attributes
    ----------
    source
        The rows: a LazyFrame (a lake scan) or a DataFrame.
    groups
        The machines of each group (``None`` stands for the rows without an ``equipment_id``).
    height
        Rows in all.
    schema
        The columns and types of the frames the groups yield.
    fingerprint
        An order-independent sha256 of the rows, when the caller knows it (a Delta commit's
        fingerprint); else :func:`corpusmill.lake.fingerprint` per group, combined.
    """

    source: pl.LazyFrame | pl.DataFrame
    groups: tuple[tuple[str | None, ...], ...]
    height: int
    schema: pl.Schema
    fingerprint: str | None = None

    @classmethod
    def of(cls, frame: pl.DataFrame | ByEquipment) -> ByEquipment:
        """``frame`` as a single group (a ByEquipment is returned as it is)."""
        if isinstance(frame, ByEquipment):
            return frame
        machines = ((None,),) if "equipment_id" not in frame.columns else (
            tuple(frame.get_column("equipment_id").unique().sort(nulls_last=True).to_list()),
        )  # fmt: skip
        return cls(frame, machines, frame.height, frame.schema)

    @classmethod
    def scan(
        cls, lf: pl.LazyFrame, *, rows: int = GROUP_ROWS, fingerprint: str | None = None
    ) -> ByEquipment:
        """Group the machines of ``lf`` (one pass over its ``equipment_id`` column) into groups of
        about ``rows`` rows, in machine order, so a group's frame fits in memory."""
        if rows < 1:
            raise ValueError(f"rows per group must be >= 1, got {rows}")
        counts = (
            lf.group_by("equipment_id").len()
            .sort("equipment_id", nulls_last=True)
            .collect(engine="streaming")
        )  # fmt: skip
        groups: list[tuple[str | None, ...]] = []
        group: list[str | None] = []
        size = 0
        for machine, n in counts.iter_rows():
            if group and size + n > rows:
                groups.append(tuple(group))
                group, size = [], 0
            group.append(machine)
            size += n
        if group:
            groups.append(tuple(group))
        height = int(counts.get_column("len").sum() or 0)
        return cls(lf, tuple(groups), height, lf.collect_schema(), fingerprint)

    @property
    def columns(self) -> list[str]:
        return self.schema.names()

    def __iter__(self) -> Iterator[pl.DataFrame]:
        """Each group's rows."""
        if isinstance(self.source, pl.DataFrame) and len(self.groups) == 1:
            yield self.source
            return
        for machines in self.groups:
            yield self.source.lazy().filter(_in(machines)).collect(engine="streaming")

    def content_fingerprint(self) -> str:
        """The rows' fingerprint: the known one, else one sha256 over the groups' (a pass over
        the table)."""
        from corpusmill import lake

        if self.fingerprint is not None:
            return self.fingerprint
        return lake.json_hash(["by_equipment", [lake.fingerprint(g) for g in self]])


def _in(machines: tuple[str | None, ...]) -> pl.Expr:
    named = [m for m in machines if m is not None]
    expr = pl.col("equipment_id").is_in(named)
    return expr | pl.col("equipment_id").is_null() if None in machines else expr
