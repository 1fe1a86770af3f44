"""Map delivered rows onto the canonical model, one batch at a time.

A :class:`Mapper` turns a batch of delivered columns (plus ``_row``) into canonical rows and
quarantine rows. Nothing is dropped: a row either leaves as a canonical row (wide and batch files:
one per tag cell) or as exactly one quarantine row naming the first problem found.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from corpusmill import canonical, timeutil, units
from corpusmill.config import Source, SourcesConfig, normalize_alias
from corpusmill.mapping.problems import MappingError, Problem, problem, suspect
from corpusmill.mapping.reshape import Factored
from corpusmill.mapping.staging import Pass, distinct

#: Canonical identifier fields that default to "<source>:<file name>:<row>" when not mapped.
ID_FIELDS = {
    "production_events": "event_id",
    "quality_inspections": "inspection_id",
    "maintenance_records": "record_id",
    "documents": "doc_id",
    "inspection_images": "image_id",
}


#: Values sampled to tell a repetitive text column from one of mostly distinct values.
_SAMPLE = 4096


@dataclass
class FileContext:
    source: str
    file: str
    sha256: str
    run_id: str
    table: str


@dataclass
class AliasTally:
    """Every equipment spelling seen, with the id it resolved to (None when unknown)."""

    seen: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    suggestions: dict[str, str | None] = field(default_factory=dict)

    def frame(self, source: str, file: str) -> pl.DataFrame:
        rows = [
            {"_source": source, "_file": file, "alias": a, "equipment_id": eid, "rows": n,
             "suggestion": self.suggestions.get(a)}
            for (a, eid), n in sorted(self.seen.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        ]  # fmt: skip
        return pl.DataFrame(rows, schema=ALIAS_SCHEMA)


ALIAS_SCHEMA = pl.Schema(
    {"_source": pl.String, "_file": pl.String, "alias": pl.String, "equipment_id": pl.String,
     "rows": pl.Int64, "suggestion": pl.String}
)  # fmt: skip


@dataclass
class _UnitState:
    """Units resolved so far for one numeric field: the table of (scale, offset, SI unit), with
    position 0 for "no unit" (left as delivered), and each delivered value's position."""

    table: list[tuple[float, float, str | None]] = field(default_factory=lambda: [(1.0, 0.0, None)])
    where: dict[str, int] = field(default_factory=dict)  # unit -> position
    position: dict[Any, int] = field(default_factory=dict)  # delivered value -> position
    bad: set[Any] = field(default_factory=set)  # delivered values whose unit is unknown

    def resolve(self, value: Any, unit: str | None) -> None:
        if unit is None:
            self.position[value] = 0
            return
        if unit not in self.where:
            try:
                conv = units.to_si(unit)
            except units.UnitError:
                self.bad.add(value)
                return
            self.where[unit] = len(self.table)
            self.table.append(conv)
        self.position[value] = self.where[unit]


def _text(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String).str.strip_chars()


class Mapper:
    """Maps batches of one file of one source onto its canonical table."""

    def __init__(self, cfg: SourcesConfig, src: Source, ctx: FileContext, columns: list[str]):
        self.cfg = cfg
        self.src = src
        self.ctx = ctx
        self.columns = columns
        self.table = canonical.KIND_TABLE[src.kind]
        self.schema = canonical.schema(self.table)
        self.timezone = cfg.timezone_for(src)
        self.aliases = cfg.alias_map()
        self.tally = AliasTally()
        self._batch_positions: dict[str, int] = {}  # batch id -> next sample index
        self._time_formats: dict[str, str | None] = {}
        self._tag_tables: dict[tuple[str, ...], pl.DataFrame] = {}
        # state kept across the batches of the file, so a batch resolves only values it is the
        # first to deliver
        self._repetitive: dict[str, bool] = {}  # text column -> few distinct values (sampled)
        self._clean: dict[str, set[str]] = {}  # column -> values known to need no trimming
        self._unit_state: dict[str, _UnitState] = {}
        self._codes: dict[str, dict[str, int]] = {}  # column -> spelling -> code
        self._code_info: dict[str, list[tuple[str | None, str | None]]] = {}  # (alias, id)
        self._check_columns()

    # -- column checks ---------------------------------------------------------------------

    def _mapped_columns(self) -> dict[str, str]:
        """Delivered column -> what it is used for, for every column the mapping needs."""
        need = {col: f"fields.{f}" for f, col in self.src.fields.items()}
        for spec_name, spec in (("wide", self.src.wide), ("batch", self.src.batch)):
            if spec is None:
                continue
            for attr in ("time_column", "batch_column", "offset_column"):
                col = getattr(spec, attr, None)
                if col:
                    need[col] = f"{spec_name}.{attr}"
        return need

    def missing_columns(self) -> dict[str, str]:
        have = set(self.columns)
        return {c: use for c, use in self._mapped_columns().items() if c not in have}

    def _check_columns(self) -> None:
        unknown = set(self.src.fields) - set(self.schema)
        if unknown:
            msg = (
                f"source {self.src.name!r}: fields maps {sorted(unknown)}, which are not columns "
                f"of {self.table} ({', '.join(c for c in self.schema if not c.startswith('_'))})"
            )
            raise MappingError(msg)

    # -- the batch transform ---------------------------------------------------------------

    def transform(
        self, batch: pl.DataFrame, *, exact: bool = False
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Canonical rows and quarantine rows for one batch of delivered rows.

        Two passes. The fast pass maps every row with cheap expressions (no whitespace trimming,
        no reasons) and flags the rows that *might* have a problem or need trimming: a superset of
        the problem rows. Flagged rows (usually none or few) are mapped again by the exact pass,
        which decides between canonical row and quarantine and words the reason. On unflagged rows
        both passes give the same values, so the output is the exact pass's on every row.

        ``exact=True`` maps every row (a wide file's cells unfactored) with the exact pass alone:
        slower, and the reference the two passes must equal.
        """
        batch = batch.rechunk()  # streamed batches arrive in many chunks; each op pays for them
        dims = None  # a wide batch's per-row and per-tag frames (see Pass.stage)
        if self.src.shape in ("wide", "batch") and self.src.kind == "sensor":
            batch, dims = self._melt(batch)
        if exact:
            cells = (dims.materialize(batch) if dims is not None else batch).rechunk()
            good, bad = self._exact(Pass(cells.with_row_index("__pos"), None, fast=False))
            return good.drop("__pos"), bad
        while True:  # ends: a learner returns True only when it learned something
            p = Pass(batch, dims, fast=True)
            exprs, problems = self._field_exprs(p)
            masks = {f"__suspect{i}": q.mask for i, q in enumerate(problems)}
            if masks:
                masks["__suspect"] = pl.any_horizontal(list(masks)).fill_null(False)
            staged = self._stage(p, exprs, masks)
            # values looked up per distinct value (units, equipment spellings, trimmed text) that
            # this file had not delivered before are resolved now, and the batch staged again
            if not any([learn(staged) for learn in p.learners]):
                break
        for hook in p.after_stage:
            hook(staged)
        if not masks:
            return self._good(staged, exprs), canonical.empty_quarantine()
        flags = staged.get_column("__suspect")
        if not flags.any():
            return self._good(staged, exprs), canonical.empty_quarantine()
        good = self._good(staged.filter(~flags), exprs).with_columns(
            (~flags).arg_true().alias("__pos")
        )
        # rechunked: polars 2.1 panics formatting a reason from a filtered multi-chunk string
        # column (an out-of-bounds view), and the flagged rows are few
        sub = batch.filter(flags)
        sub = (dims.materialize(sub) if dims is not None else sub).rechunk()
        sub = sub.with_columns(flags.arg_true().alias("__pos"))
        redone, bad = self._exact(Pass(sub, None, fast=False))
        if redone.height:
            good = pl.concat([good, redone], how="vertical").sort("__pos")
        return good.drop("__pos"), bad

    def _exact(self, p: Pass) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The exact pass: canonical rows (keeping ``__pos``) and one quarantine row per problem
        row, naming the first problem found."""
        exprs, problems = self._field_exprs(p)
        first = pl.coalesce(
            [pl.when(p.mask).then(pl.lit(i, pl.Int32)) for i, p in enumerate(problems)]
            or [pl.lit(None, pl.Int32)]
        )
        staged = self._stage(p, exprs, {"_problem": first})
        problem = staged.get_column("_problem")
        good = self._good(staged.filter(problem.is_null()), exprs, keep=["__pos"])
        bad_rows = staged.filter(problem.is_not_null())
        if bad_rows.height == 0:
            return good, canonical.empty_quarantine()

        def pick(attr: str) -> pl.Expr:
            return pl.coalesce(
                [pl.when(pl.col("_problem") == i).then(getattr(p, attr).cast(pl.String))
                 for i, p in enumerate(problems)]
            )  # fmt: skip

        ctx = self.ctx
        quarantine = bad_rows.select(
            pl.lit(ctx.source).alias("_source"),
            pl.lit(ctx.file).alias("_file"),
            pl.col("__out._row").alias("_row"),
            pick("column").alias("column"),
            pick("raw").alias("raw_value"),
            pick("reason").alias("reason"),
            pick("check").alias("check"),
            pl.lit(ctx.run_id).alias("_run_id"),
            pl.lit(self.table).alias("table"),
            pl.lit("ingest").alias("stage"),
            pl.lit(ctx.sha256).alias("_file_sha256"),
        )
        return good, quarantine.select(canonical.QUARANTINE.keys()).cast(canonical.QUARANTINE)

    def _stage(self, p: Pass, exprs: dict[str, pl.Expr], extra: dict[str, pl.Expr]) -> pl.DataFrame:
        """The pass staged: ``__out.<field>`` for every field, ``__out._row`` and ``extra``."""
        outputs = {f"__out.{n}": e for n, e in exprs.items() if self._is_field(n)}
        outputs["__out._row"] = pl.col("_row").cast(pl.Int64)
        return p.stage(outputs, extra)

    def _is_field(self, name: str) -> bool:
        return name in self.schema and not name.startswith("_")

    def _good(
        self, staged: pl.DataFrame, exprs: dict[str, pl.Expr], keep: list[str] | None = None
    ) -> pl.DataFrame:
        ctx = self.ctx
        constant = {"_source": ctx.source, "_file": ctx.file, "_file_sha256": ctx.sha256,
                    "_run_id": ctx.run_id}  # fmt: skip
        cols = []
        for name, dtype in self.schema.items():
            if name == "_row":
                e = pl.col("__out._row")
            elif name in constant:
                e = pl.lit(constant[name])
            elif name in exprs and self._is_field(name):
                e = pl.col(f"__out.{name}")
            else:
                e = pl.lit(None)
            cols.append(e.cast(dtype).alias(name))
        return staged.select(*cols, *(keep or []))

    # -- fields ----------------------------------------------------------------------------

    def _source_expr(self, name: str, p: Pass) -> tuple[pl.Expr | None, str | None]:
        """The delivered value for a canonical field: (expression, delivered column name)."""
        if p.has(f"__{name}"):  # delivered by reshaping or by the file reader
            return pl.col(f"__{name}"), None
        if name in self.src.fields:
            col = self.src.fields[name]
            return pl.col(col), col
        if name in self.src.constants:
            return pl.lit(self.src.constants[name]), None
        return None, None

    def _field_exprs(self, p: Pass) -> tuple[dict[str, pl.Expr], list[Problem]]:
        """Per canonical field its expression, and the problems a row can have.

        A fast pass: the expressions skip work that only matters on unusual rows (trimming), and
        a problem's mask is a cheap superset of its rows; see :meth:`transform`.
        """
        si_units: dict[str, pl.Expr] = {}  # numeric field -> the SI unit it was converted to
        exprs: dict[str, pl.Expr] = {}
        problems: list[Problem] = []
        for name, dtype in self.schema.items():
            if name.startswith("_") or name == "equipment_id":
                continue
            if name == "unit" and "value" in si_units:
                continue  # the SI unit the value was converted to (below)
            src_expr, col = self._source_expr(name, p)
            if src_expr is None:
                continue
            label = col or name
            delivered = p.dtype(src_expr)
            if isinstance(dtype, pl.Float64):  # numbers always pass through unit conversion
                exprs[name], probs, si = self._numeric(name, src_expr, label, p, delivered)
                problems += probs
                if si is not None:
                    si_units[name] = si
            elif delivered == dtype and delivered != pl.String:
                exprs[name] = src_expr  # already typed by the reader (Parquet, images, ...)
            elif isinstance(dtype, pl.Datetime):
                exprs[name], prob = self._timestamp(name, src_expr, label, p)
                if prob is not None:
                    problems.append(prob)
            elif isinstance(dtype, pl.Int64):
                exprs[name], prob = self._integer(src_expr, label)
                problems.append(prob)
            else:
                exprs[name] = self._text_of(src_expr, p)
        if "value" in si_units and "unit" in self.schema:
            exprs["unit"] = si_units["value"]  # the SI unit the value was converted to
        self._derived(exprs)
        eq = self._equipment(p, tally=p.fast)  # the fast pass sees every row: it counts them
        if eq is not None:
            exprs["equipment_id"], prob = eq
            if prob is not None:
                problems.insert(0, prob)
        return exprs, problems

    def _text_of(self, expr: pl.Expr, p: Pass) -> pl.Expr:
        """``expr`` as text without surrounding whitespace.

        Machine exports repeat a few values (signal names, flags, codes) in a column: once those
        values are known to have nothing to trim, the column is used as it is, which costs a
        lookup instead of trimming every row; a value not seen before is checked after staging
        (see :meth:`Pass.learner`). Python's ``str.strip`` trims a superset of the characters polars
        trims, so a value it leaves alone needs no trimming. Columns of mostly distinct values,
        and the exact pass, trim row by row.
        """
        stripped = expr.cast(pl.String).str.strip_chars()
        roots = expr.meta.root_names()
        if not expr.meta.is_column() or len(roots) != 1:
            return stripped
        col = roots[0]
        frame = p.frame_of(roots)
        if frame is None or frame.schema[col] != pl.String:
            return stripped
        clean = self._clean.setdefault(col, set())
        if frame is not p.batch:  # a dimension: a few hundred values at most
            for v in frame.get_column(col).to_list():
                if v is not None and v not in clean:
                    if v != v.strip():
                        return stripped
                    clean.add(v)
            return expr
        if not p.fast or not self._is_repetitive(p.batch, col):
            return stripped

        def learn(values: list[str]) -> bool:
            if all(v == v.strip() for v in values):
                clean.update(values)  # rows already staged as they are: nothing to redo
                return False
            self._repetitive[col] = False  # values to trim: trim this column row by row
            return True

        known = p.memo_col(
            f"__clean.{col}", pl.when(pl.col(col).is_in(sorted(clean))).then(pl.lit(True))
        )
        p.learner(known.meta.output_name(), col, learn)
        return expr

    def _is_repetitive(self, batch: pl.DataFrame, col: str) -> bool:
        if col not in self._repetitive:
            n = batch.get_column(col).head(_SAMPLE).n_unique()
            self._repetitive[col] = n <= max(min(batch.height, _SAMPLE) // 4, 16)
        return self._repetitive[col]

    def _derived(self, exprs: dict[str, pl.Expr]) -> None:
        id_field = ID_FIELDS.get(self.table)
        if id_field and id_field not in exprs:
            name = self.ctx.file.rsplit("/", 1)[-1]
            exprs[id_field] = pl.format(
                "{}:{}:{}", pl.lit(self.ctx.source), pl.lit(name), pl.col("_row")
            )
        if self.table == "sensor_readings":
            if self.src.signals and "signal" in exprs:
                exprs["signal"] = exprs["signal"].replace(self.src.signals)

    def _numeric(
        self,
        name: str,
        expr: pl.Expr,
        label: str,
        p: Pass,
        delivered: pl.DataType,
    ) -> tuple[pl.Expr, list[Problem], pl.Expr | None]:
        """The value in SI, the problems a row can have, and the SI unit (None: no unit)."""
        problems: list[Problem] = []
        if delivered.is_numeric():
            parsed = expr.cast(pl.Float64)  # typed by the reader: nothing to parse
        elif p.fast:
            # a padded or non-numeric cell parses to null here: flagged, and redone exactly
            as_number = expr.cast(pl.String).cast(pl.Float64, strict=False)
            parsed = p.memo_col(f"__num.{name}", as_number)
            problems.append(suspect(expr.is_not_null() & parsed.is_null()))
        else:
            raw = p.memo_col(f"__raw.{name}", expr.cast(pl.String).str.strip_chars())
            parsed = p.memo_col(f"__num.{name}", raw.cast(pl.Float64, strict=False))
            problems.append(
                problem(
                    "non_numeric",
                    p.cell_label(label),
                    raw.is_not_null() & (raw != "") & parsed.is_null(),
                    raw,
                    pl.format("non-numeric value '{}' in numeric column '{}'", raw, pl.lit(label)),
                )
            )
        unit_spec = self._unit_for(name, p)
        if unit_spec is None:
            return parsed, problems, None
        if isinstance(unit_spec, str):
            scale, offset, si = units.to_si(unit_spec)
            return parsed * scale + offset, problems, pl.lit(si, pl.String)
        at, table, bad = self._unit_positions(name, *unit_spec, p)

        def lookup(i: int, dtype: pl.DataType) -> pl.Expr:
            return pl.lit(pl.Series([t[i] for t in table], dtype=dtype)).gather(at)

        if bad is not None:
            problems.append(bad)
        si_unit = lookup(2, pl.String())
        # named, so a wide file's scale and offset are looked up once per tag, not per cell
        scale = p.memo_col(f"__scale.{name}", lookup(0, pl.Float64()))
        offset = p.memo_col(f"__offset.{name}", lookup(1, pl.Float64()))
        return parsed * scale + offset, problems, si_unit

    def _unit_positions(
        self, name: str, unit_expr: pl.Expr, unit_label: str, p: Pass
    ) -> tuple[pl.Expr, list[tuple[float, float, str | None]], Problem | None]:
        """Per row, the position of its unit's (scale, offset, SI unit) in a table of the units
        this batch uses: null where the unit is unknown. A row without a unit is left as
        delivered (scale 1, offset 0, unit null).

        The unit usually comes from one delivered column (a unit column, the signal name, a wide
        file's tag): it is resolved once per distinct value of that column, and each row looks its
        value up, instead of trimming and converting every row.
        """
        roots = unit_expr.meta.root_names()
        if len(roots) != 1 or p.frame_of(roots) is None:
            unit_expr = p.memo_col(f"__unit.{name}", unit_expr)
            roots = [f"__unit.{name}"]
            frame = p.batch.select(unit_expr.alias(roots[0]))
            state = _UnitState()  # resolved per batch: the values are the expression's
        else:
            frame = p.frame_of(roots)
            state = self._unit_state.setdefault(name, _UnitState())
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
        if bad_values:
            bad = problem(
                "unknown_unit",
                unit_label,
                col.is_in(bad_values),
                unit_expr,
                pl.format("unit '{}' is not a known unit", unit_expr),
            )
        return at_expr, state.table, bad

    def _unit_for(self, name: str, p: Pass) -> str | tuple[pl.Expr, str] | None:
        """The unit a numeric field is delivered in: a constant, or a per-row expression."""
        if name in self.src.units:
            return self.src.units[name]
        if name == "t_offset_s" and self.src.batch is not None:
            return self.src.batch.offset_unit
        if self.table != "sensor_readings" or name != "value":
            return None
        if p.has("__unit"):
            return pl.col("__unit"), "unit"
        if "unit" in self.src.fields:
            col = self.src.fields["unit"]
            return _text(col), col
        if self.src.signal_units and "signal" in self.src.fields:
            sig = _text(self.src.fields["signal"])
            return sig.replace_strict(self.src.signal_units, default=None), "signal_units"
        return None

    def _integer(self, expr: pl.Expr, label: str) -> tuple[pl.Expr, Problem]:
        raw = expr.cast(pl.String).str.strip_chars()
        parsed = raw.cast(pl.Float64, strict=False)
        bad = raw.is_not_null() & (raw != "") & (parsed.is_null() | (parsed != parsed.round(0)))
        return parsed.cast(pl.Int64, strict=False), problem(
            "non_numeric", label, bad, raw,
            pl.format("not a whole number: '{}' in column '{}'", raw, pl.lit(label)),
        )  # fmt: skip

    def _timestamp(
        self, name: str, expr: pl.Expr, label: str, p: Pass
    ) -> tuple[pl.Expr, Problem | None]:
        dtype = p.dtype(expr)
        spec = self.src.time
        if name not in self._time_formats and dtype == pl.String:
            frame = p.frame_of(expr.meta.root_names())
            frame = p.batch if frame is None else frame
            sample = frame.select(expr.alias("t")).get_column("t").drop_nulls().head(1000)
            self._time_formats[name] = spec.format or timeutil.infer_format(sample)
        fmt = self._time_formats.get(name)
        kw = dict(timezone=self.timezone, fmt=fmt, ambiguous=spec.ambiguous,
                  nonexistent=spec.nonexistent, dtype=dtype)  # fmt: skip
        parsed = p.memo_col(
            f"__ts.{name}", timeutil.parse_local_to_utc(expr, strip=not p.fast, **kw)
        )
        if p.fast:  # blank, padded, unparseable and quarantined times all parse to null here
            return parsed, suspect(expr.is_not_null() & parsed.is_null())
        check = timeutil.time_check(expr, **kw)
        raw = expr.cast(pl.String)
        # time_check is non-null exactly where a present value parses to null (its documented
        # contract), so the mask reuses the parsed column; the check itself is only evaluated on
        # quarantined rows.
        present = expr.is_not_null()
        if dtype == pl.String:
            present = present & (expr.cast(pl.String).str.strip_chars().str.len_chars() > 0)
        return parsed, problem(
            check,
            p.cell_label(label),
            present & parsed.is_null(),
            raw,
            pl.format("{} '{}' in column '{}' (zone {})", check, raw, pl.lit(label),
                      pl.lit(self.timezone)),
        )  # fmt: skip

    # -- equipment -------------------------------------------------------------------------

    def _equipment(self, p: Pass, *, tally: bool) -> tuple[pl.Expr, Problem | None] | None:
        """The equipment id per row, resolved once per distinct delivered spelling; ``tally``
        counts the spellings seen (once per row: only one pass over a batch may count)."""
        if p.has("__equipment"):
            alias, label = pl.col("__equipment"), "equipment"
        elif "equipment_id" in self.src.fields:
            label = self.src.fields["equipment_id"]
            alias = _text(label)
        elif self.src.equipment:
            alias, label = pl.lit(self.src.equipment), "equipment"
        elif "equipment_id" in self.src.constants:
            alias, label = pl.lit(str(self.src.constants["equipment_id"])), "equipment"
        else:
            return None
        roots = alias.meta.root_names()
        frame = p.frame_of(roots) if len(roots) == 1 else None
        if frame is not None and frame.schema[roots[0]] == pl.String:
            # a batch column's new spellings are learned after staging (a dimension is small)
            return self._equipment_by_code(p, frame, roots[0], alias, label, tally=tally,
                                           learn_later=tally and frame is p.batch)  # fmt: skip
        if frame is not None:  # a non-text column (machine numbers): resolved per value
            weight = p.batch.height // frame.height if frame.height else 0
            key = pl.col(roots[0])
            counts = frame.group_by(roots[0]).agg(pl.len().alias("n")).select(
                roots[0], alias.alias("a"), pl.col("n") * weight
            )
        else:  # a constant
            key = alias
            value = pl.select(alias.alias("a")).item()
            counts = pl.DataFrame({"k": [value], "a": [value], "n": [p.batch.height]})
        resolved: dict[Any, str] = {}
        unknown: list[Any] = []
        for k, a, n in counts.iter_rows():
            if a is None:
                continue
            eid = self._resolve_alias(a)
            if tally and n:
                self.tally.seen[(a, eid)] += n
            if eid is None:
                unknown.append(k)
            else:
                resolved[k] = eid
        eid_expr = key.replace_strict(resolved, default=None, return_dtype=pl.String)
        if not unknown:
            return eid_expr, None
        return eid_expr, self._unknown_equipment(
            label, key.is_in(unknown), alias, counts.get_column("a").drop_nulls().to_list()
        )

    def _equipment_by_code(
        self,
        p: Pass,
        frame: pl.DataFrame,
        col: str,
        alias: pl.Expr,
        label: str,
        *,
        tally: bool,
        learn_later: bool,
    ) -> tuple[pl.Expr, Problem | None]:
        """Equipment ids through a small integer code per delivered spelling.

        Codes are kept across the batches of a file: a batch resolves only spellings it is the
        first to deliver, maps each row to its code with one lookup, and gathers the id by code;
        the tally counts the codes once the batch is staged.
        """
        codes = self._codes.setdefault(col, {})
        info = self._code_info.setdefault(col, [])

        def learn(values: list[str]) -> bool:
            new = [v for v in values if v is not None and v not in codes]
            if new:
                spelled = pl.DataFrame({col: new}, schema={col: pl.String})
                for v, a in zip(new, spelled.select(alias.alias("a")).get_column("a").to_list()):
                    codes[v] = len(codes)
                    info.append((a, self._resolve_alias(a) if a is not None else None))
            return bool(new)

        if learn_later:
            p.learner(f"__code.{col}", col, learn)
        else:
            learn(distinct(frame, col))
        code = p.memo_col(
            f"__code.{col}", pl.col(col).replace_strict(codes, default=None, return_dtype=pl.UInt32)
        )
        if tally:
            p.after_stage.append(lambda staged: self._count_codes(p, col, staged))
        eid_expr = pl.lit(pl.Series([eid for _a, eid in info], dtype=pl.String)).gather(code)
        unknown = [i for i, (a, eid) in enumerate(info) if a is not None and eid is None]
        if not unknown:
            return eid_expr, None
        return eid_expr, self._unknown_equipment(
            label, code.is_in(unknown), alias, [info[i][0] for i in unknown]
        )

    def _count_codes(self, p: Pass, col: str, staged: pl.DataFrame) -> None:
        name = f"__code.{col}"
        frame = staged if name in staged.columns else p.dimension_of([name])
        assert frame is not None
        codes = frame.get_column(name)
        arr = codes.to_numpy()
        if codes.null_count():
            arr = arr[~np.isnan(arr)]
        info = self._code_info[col]
        # a dimension frame holds each code once per row (or tag) of the batch
        weight = staged.height // frame.height if frame.height else 0
        n = np.bincount(arr.astype(np.int64, copy=False), minlength=len(info)) * weight
        for i in np.flatnonzero(n):
            a, eid = info[i]
            if a is not None:
                self.tally.seen[(a, eid)] += int(n[i])

    def _resolve_alias(self, alias: str) -> str | None:
        """The registered id of a spelling; None (with a suggestion noted) when unknown."""
        eid = self.aliases.get(normalize_alias(alias))
        if eid is None and self.src.on_unknown_equipment == "keep":
            eid = f"{self.src.site}/unregistered/-/{_slug(alias)}"
        if eid is None and alias not in self.tally.suggestions:
            self.tally.suggestions[alias] = self._suggest(alias)
        return eid

    def _unknown_equipment(
        self, label: str, mask: pl.Expr, alias: pl.Expr, aliases: list[str]
    ) -> Problem:
        hint = {a: (f"; did you mean {s!r}?" if (s := self.tally.suggestions.get(a)) else "")
                for a in aliases}  # fmt: skip
        return problem(
            "unknown_equipment",
            label,
            mask,
            alias,
            pl.format(
                "unknown equipment alias '{}' (add it to the registry in sources.yaml){}",
                alias, alias.replace_strict(hint, default=""),
            ),
        )  # fmt: skip

    def _suggest(self, alias: str) -> str | None:
        """The registered equipment id whose aliases look most like ``alias``, if any is close."""
        key = normalize_alias(alias)
        match = difflib.get_close_matches(key, list(self.aliases), n=1, cutoff=0.6)
        return self.aliases[match[0]] if match else None

    # -- wide and batch reshaping ----------------------------------------------------------

    def _tag_columns(self, columns: list[str], exclude: set[str]) -> list[str]:
        spec = self.src.wide or self.src.batch
        assert spec is not None
        candidates = [c for c in columns if c not in exclude and c != "_row"]
        if spec.tag_columns == "all":
            return candidates
        if isinstance(spec.tag_columns, list):
            return [c for c in spec.tag_columns if c in candidates]
        rx = re.compile(spec.tag_columns)
        return [c for c in candidates if rx.search(c)]

    def tag_table(self, tags: list[str]) -> pl.DataFrame:
        """Per tag column: the equipment alias, signal and unit its readings carry."""
        spec = self.src.wide or self.src.batch
        assert spec is not None
        rx = re.compile(spec.equipment_from_tag) if spec.equipment_from_tag else None
        rows = []
        for tag in tags:
            ts = spec.tags.get(tag)
            equipment = ts.equipment if ts and ts.equipment else None
            signal = ts.signal if ts and ts.signal else None
            if rx is not None and (m := rx.search(tag)):
                equipment = equipment or m.group("equipment")
                if "signal" in rx.groupindex and m.group("signal"):
                    signal = signal or m.group("signal")
            equipment = equipment or self.src.equipment
            signal = self.src.signals.get(signal or tag, signal or tag)
            unit = (ts.unit if ts and ts.unit else None) or self.src.signal_units.get(signal)
            rows.append({"__tag": tag, "__equipment": equipment, "__signal": signal,
                         "__unit": unit})  # fmt: skip
        return pl.DataFrame(
            rows, schema={"__tag": pl.String, "__equipment": pl.String, "__signal": pl.String,
                          "__unit": pl.String},
        )  # fmt: skip

    def _melt(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, Factored | None]:
        if self.src.wide is not None:
            keys = [self.src.wide.time_column]
            return self._melt_factored(batch, keys, self._tag_columns(batch.columns, set(keys)))
        b = self.src.batch
        assert b is not None
        keys = [b.batch_column] + ([b.offset_column] if b.offset_column else [])
        tags = self._tag_columns(batch.columns, set(keys))
        long = batch.select(
            *keys, "_row", *[pl.col(t).cast(pl.String).alias(t) for t in tags]
        ).unpivot(index=[*keys, "_row"], on=tags, variable_name="__tag", value_name="__value")
        long = self._batch_clock(long.join(self.tag_table(tags), on="__tag", how="left"))
        # keep the delivered file order: row, then tag column order
        order = {t: i for i, t in enumerate(tags)}
        return long.with_columns(
            pl.col("__tag").replace_strict(order, return_dtype=pl.Int32).alias("__tag_pos"),
            pl.col("__tag").alias("__column"),
        ).sort("_row", "__tag_pos"), None

    def _melt_factored(
        self, batch: pl.DataFrame, keys: list[str], tags: list[str]
    ) -> tuple[pl.DataFrame, Factored]:
        """A wide batch as cells (tag column by tag column), with the per-row and per-tag frames
        set aside for :meth:`Pass.stage`: no per-cell copy of the time, equipment or signal."""
        key = tuple(tags)
        table = self._tag_tables.get(key)
        if table is None:
            table = self._tag_tables[key] = self.tag_table(tags).with_columns(
                pl.col("__tag").alias("__column")
            )
        assert self.src.wide is not None
        n, t = batch.height, len(tags)
        rows = batch.select(*keys, "_row", pl.col(self.src.wide.time_column).alias("__ts_utc"))
        values = (
            pl.concat([batch.get_column(c).cast(pl.String) for c in tags])
            if t else pl.Series(dtype=pl.String)
        )  # fmt: skip
        cells = pl.DataFrame(
            {
                "__value": values,
                "__row_pos": np.tile(np.arange(n, dtype=np.uint32), t),
                "__tag_pos": np.repeat(np.arange(t, dtype=np.uint32), n),
            }
        ).rechunk()  # one chunk per tag column otherwise: every later op would pay for them
        return cells, Factored(rows, table)

    def _batch_clock(self, long: pl.DataFrame) -> pl.DataFrame:
        b = self.src.batch
        assert b is not None
        batch_id = pl.col(b.batch_column).cast(pl.String).str.strip_chars()
        long = long.with_columns(batch_id.alias("__batch_id"))
        # sample index: position of the delivered row within its batch, carried across batches
        rows = long.select("__batch_id", "_row").unique(maintain_order=True).sort("_row")
        idx = rows.with_columns(pl.int_range(pl.len()).over("__batch_id").alias("__local"))
        start = {k: self._batch_positions.get(k, 0) for k in idx["__batch_id"].unique().to_list()}
        idx = idx.with_columns(
            (pl.col("__local") + pl.col("__batch_id").replace_strict(start, default=0,
             return_dtype=pl.Int64)).alias("__sample_index")  # fmt: skip
        )
        for k, n in idx.group_by("__batch_id").agg(pl.len()).iter_rows():
            self._batch_positions[k] = self._batch_positions.get(k, 0) + n
        long = long.join(idx.select("_row", "__sample_index"), on="_row", how="left")
        if b.offset_column:
            if units.to_si(b.offset_unit)[2] != "s":
                msg = f"source {self.src.name!r}: batch.offset_unit {b.offset_unit!r} is not a time"
                raise MappingError(msg)
            long = long.with_columns(pl.col(b.offset_column).cast(pl.String).alias("__t_offset_s"))
        return long


def _slug(text: str) -> str:
    key = normalize_alias(text)
    s = re.sub(r"[^a-z0-9_.-]+", "-", key).strip("-")
    if re.search(r"[^a-z0-9_.\s-]", key):
        # characters an id cannot spell (CJK, symbols) would be dropped, and '3号机床' and '3号泵'
        # would become one machine: a short hash of the spelling keeps them apart
        import hashlib

        s = f"{s}-{hashlib.sha256(key.encode()).hexdigest()[:8]}".strip("-")
    return s or "x"
