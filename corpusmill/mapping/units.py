"""Numeric fields to SI, with units resolved once per distinct delivered value.

The conversion itself is :func:`corpusmill.units.to_si` (pint), which is far too slow per row: a
column of units (or the signal names or tags a unit is derived from) repeats a few values, so each
value is resolved once per file and each row looks up its value's position in a small table of
(scale, offset, SI unit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from corpusmill.config import Source
from corpusmill.mapping.fields import text
from corpusmill.mapping.problems import Problem, problem
from corpusmill.mapping.staging import Pass, distinct
from corpusmill.units import UnitError, to_si


@dataclass
class UnitState:
    """Units resolved so far for one numeric field: the table of (scale, offset, SI unit), with
    position 0 for "no unit" (left as delivered), and each delivered value's position."""

    table: list[tuple[float, float, str | None]] = field(default_factory=lambda: [(1.0, 0.0, None)])
    where: dict[str, int] = field(default_factory=dict)  # unit -> position
    position: dict[Any, int] = field(default_factory=dict)  # delivered value -> position
    bad: dict[Any, str] = field(default_factory=dict)  # delivered value -> why its unit is unusable
    aliases: dict[str, str] = field(default_factory=dict)  # the source's unit_aliases

    def resolve(self, value: Any, unit: str | None) -> None:
        if unit is None:
            self.position[value] = 0
            return
        unit = self.aliases.get(unit.strip(), unit)
        if unit not in self.where:
            try:
                conv = to_si(unit)
            except UnitError as e:
                self.bad[value] = str(e)
                return
            self.where[unit] = len(self.table)
            self.table.append(conv)
        self.position[value] = self.where[unit]


class Units:
    """The units of one file's numeric fields, kept across its batches (a batch resolves only the
    values it is the first to deliver)."""

    def __init__(self, src: Source, table: str) -> None:
        self.src = src
        self.table = table
        self._state: dict[str, UnitState] = {}  # numeric field -> its units so far

    def convert(
        self, name: str, parsed: pl.Expr, p: Pass
    ) -> tuple[pl.Expr, Problem | None, pl.Expr | None]:
        """``parsed`` in SI, the problem of rows whose unit is unknown, and the SI unit (None: the
        field has no unit)."""
        unit_spec = self._unit_for(name, p)
        if unit_spec is None:
            return parsed, None, None
        if isinstance(unit_spec, str):
            scale, offset, si = to_si(self.src.unit_aliases.get(unit_spec.strip(), unit_spec))
            return parsed * scale + offset, None, pl.lit(si, pl.String)
        at, table, bad = self._positions(name, *unit_spec, p, parsed)

        def lookup(i: int, dtype: pl.DataType) -> pl.Expr:
            return pl.lit(pl.Series([t[i] for t in table], dtype=dtype)).gather(at)

        si_unit = lookup(2, pl.String())
        # named, so a wide file's scale and offset are looked up once per tag, not per cell
        scale = p.memo_col(f"__scale.{name}", lookup(0, pl.Float64()))
        offset = p.memo_col(f"__offset.{name}", lookup(1, pl.Float64()))
        return parsed * scale + offset, bad, si_unit

    def _positions(
        self,
        name: str,
        unit_expr: pl.Expr,
        unit_label: str,
        required: bool,
        p: Pass,
        parsed: pl.Expr,
    ) -> tuple[pl.Expr, list[tuple[float, float, str | None]], Problem | None]:
        """Per row, the position of its unit's (scale, offset, SI unit) in a table of the units
        this batch uses: null where the unit is unknown. A row without a unit is left as
        delivered (scale 1, offset 0, unit null) when the unit comes from ``signal_units``; from a
        unit column (or a tag) a reading without a unit is a problem (``missing_unit``).

        The unit usually comes from one delivered column (a unit column, the signal name, a wide
        file's tag): it is resolved once per distinct value of that column, and each row looks its
        value up, instead of trimming and converting every row.
        """
        roots = unit_expr.meta.root_names()
        if len(roots) != 1 or p.frame_of(roots) is None:
            unit_expr = p.memo_col(f"__unit.{name}", unit_expr)
            roots = [f"__unit.{name}"]
            frame = p.batch.select(unit_expr.alias(roots[0]))
            state = UnitState(aliases=dict(self.src.unit_aliases))  # per batch: the expression's
        else:
            frame = p.frame_of(roots)
            state = self._state.setdefault(name, UnitState(aliases=dict(self.src.unit_aliases)))
        assert frame is not None
        root = roots[0]
        dtype = frame.schema[root]

        def learn(values: list[Any]) -> bool:
            new = [v for v in values if v not in state.position and v not in state.bad]
            if new:
                fresh = pl.DataFrame({root: new}, schema={root: dtype})
                for value, unit in fresh.with_columns(unit_expr.alias("__u")).iter_rows():
                    state.resolve(value, unit)
            return bool(new)

        if p.fast and frame is p.batch:  # values new to this file are resolved after staging
            p.learner(f"__unit_at.{name}", root, learn)
        else:
            learn(distinct(frame, root))
        col = pl.col(root)
        positions = {v: i for v, i in state.position.items() if v is not None}
        found = col.replace_strict(positions, default=None, return_dtype=pl.UInt32)
        at_expr = p.memo_col(
            f"__unit_at.{name}",
            pl.when(col.is_null())
            .then(pl.lit(state.position.get(None, 0), pl.UInt32))
            .otherwise(found),
        )
        bad_values = sorted(state.bad, key=str)
        bad = None
        # a unit column (not a signal_units lookup) must give every value a unit: an empty unit is
        # not "no unit", it is a reading whose unit was lost
        if bad_values or required:
            reasons = {v: state.bad[v] for v in bad_values}
            # a blank unit ("  ") is resolved like any other value (to_si refuses it): only
            # null needs a row test here, which is cheap
            missing = (col.is_null() & parsed.is_not_null()) if required else pl.lit(False)
            unknown = col.is_in(bad_values) if bad_values else pl.lit(False)
            bad = problem(
                pl.when(unknown).then(pl.lit("unknown_unit")).otherwise(pl.lit("missing_unit")),
                unit_label,
                unknown | missing,
                unit_expr.cast(pl.String),
                pl.when(unknown)
                .then(
                    pl.format(
                        "unit '{}' is not usable: {}", unit_expr,
                        col.replace_strict(reasons, default="unknown", return_dtype=pl.String),
                    ) if reasons else pl.lit("unknown unit")
                )
                .otherwise(pl.format(
                    "no unit in column '{}' for this reading; fill it in, or declare the unit "
                    "(units or signal_units) in the sources file", pl.lit(unit_label))),
            )  # fmt: skip
        return at_expr, state.table, bad

    def _unit_for(self, name: str, p: Pass) -> str | tuple[pl.Expr, str, bool] | None:
        """The unit a numeric field is delivered in: a constant, or a per-row expression with its
        label and whether every value must have one (a delivered unit column)."""
        if name in self.src.units:
            return self.src.units[name]
        if name == "t_offset_s" and self.src.batch is not None:
            # from sample_period the offsets are already seconds
            return "s" if self.src.batch.sample_period else self.src.batch.offset_unit
        if self.table != "sensor_readings" or name != "value":
            return None
        if p.has("__unit"):
            return pl.col("__unit"), "unit", False
        if "unit" in self.src.fields:
            col = self.src.fields["unit"]
            return text(col), col, True
        if self.src.signal_units and "signal" in self.src.fields:
            sig = text(self.src.fields["signal"])
            return sig.replace_strict(self.src.signal_units, default=None), "signal_units", False
        return None
