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

#: Canonical identifier fields that default to "<source>:<file name>:<row>" when not mapped.
ID_FIELDS = {
    "production_events": "event_id",
    "quality_inspections": "inspection_id",
    "maintenance_records": "record_id",
    "documents": "doc_id",
    "inspection_images": "image_id",
}


@dataclass
class Problem:
    """One way a row can fail at ingest: a mask over the batch and how to describe it."""

    check: pl.Expr  # the rule's code, e.g. "non_numeric" (an expression: time checks vary per row)
    column: pl.Expr  # the delivered column it concerns (per cell for reshaped files)
    mask: pl.Expr  # True where the row has this problem
    raw: pl.Expr  # the delivered value, as text
    reason: pl.Expr  # a readable sentence


def problem(
    check: str | pl.Expr, column: str | pl.Expr, mask: pl.Expr, raw: pl.Expr, reason: pl.Expr
) -> Problem:
    as_expr = lambda v: pl.lit(v, pl.String) if isinstance(v, str) else v  # noqa: E731
    return Problem(as_expr(check), as_expr(column), mask, raw, reason)


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


class MappingError(ValueError):
    """The sources file maps a column that the delivered file does not have."""


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

    def transform(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Canonical rows and quarantine rows for one batch of delivered rows."""
        self._cells: pl.DataFrame | None = None  # set by _melt_rows: one row per tag column
        if self.src.shape in ("wide", "batch") and self.src.kind == "sensor":
            batch = self._melt(batch)
        self._memo: dict[str, pl.Expr] = {}
        exprs, problems = self._field_exprs(batch)
        return self._split(batch, exprs, problems)

    def _memo_col(self, name: str, expr: pl.Expr) -> pl.Expr:
        """``expr`` computed once per batch as hidden column ``name`` (a reference to it).

        Masks, values and reasons often share a subexpression (a stripped cell, a parsed number);
        polars does not share it across them, so it is materialised before the one pass of
        :meth:`_split`. Memo columns may use earlier ones.
        """
        self._memo[name] = expr
        return pl.col(name)

    def _split(
        self, batch: pl.DataFrame, exprs: dict[str, pl.Expr], problems: list[Problem]
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        ctx = self.ctx
        prov = {
            "_source": pl.lit(ctx.source),
            "_file": pl.lit(ctx.file),
            "_row": pl.col("_row").cast(pl.Int64),
            "_file_sha256": pl.lit(ctx.sha256),
            "_run_id": pl.lit(ctx.run_id),
        }
        first = pl.coalesce(
            [pl.when(p.mask).then(pl.lit(i, pl.Int32)) for i, p in enumerate(problems)]
            or [pl.lit(None, pl.Int32)]
        )
        # One pass over the batch computes the problem index and every field (all elementwise and
        # non-raising), so common subexpressions (a stripped column, a parsed timestamp) are
        # evaluated once; only the strict casts wait until the problem rows are filtered out.
        fields = {n: e for n, e in exprs.items() if n in self.schema and not n.startswith("_")}
        # In a melted wide batch, expressions of the tag's columns alone (equipment, signal, unit)
        # are evaluated once per tag column and gathered by tag position (elementwise: same values).
        cells = getattr(self, "_cells", None)

        def per_cell(name: str, e: pl.Expr) -> pl.Expr:
            nonlocal cells
            roots = set(e.meta.root_names())
            if cells is None or not roots or not roots <= set(cells.columns):
                return e
            cells = cells.with_columns(e.alias(name))
            return pl.lit(cells.get_column(name)).gather(pl.col("__tag_pos"))

        lf = batch.lazy()
        for name, e in getattr(self, "_memo", {}).items():
            lf = lf.with_columns(per_cell(name, e).alias(name))
        fields = {n: per_cell(f"__out.{n}", e) for n, e in fields.items()}
        staged = lf.with_columns(
            first.alias("_problem"), *[e.alias(f"__out.{n}") for n, e in fields.items()]
        ).collect()
        n_bad = staged.height - staged.get_column("_problem").null_count()
        ok = staged.filter(pl.col("_problem").is_null()) if n_bad else staged
        good = ok.select(
            [(pl.col(f"__out.{name}") if name in fields else pl.lit(None)).cast(dtype).alias(name)
             for name, dtype in self.schema.items() if not name.startswith("_")]
            + [e.cast(self.schema[n]).alias(n) for n, e in prov.items()]
        )  # fmt: skip
        if n_bad == 0:
            return good, canonical.empty_quarantine()
        bad_rows = staged.filter(pl.col("_problem").is_not_null())
        if bad_rows.height == 0:
            return good, canonical.empty_quarantine()

        def pick(attr: str) -> pl.Expr:
            return pl.coalesce(
                [pl.when(pl.col("_problem") == i).then(getattr(p, attr).cast(pl.String))
                 for i, p in enumerate(problems)]
            )  # fmt: skip

        quarantine = bad_rows.select(
            prov["_source"].alias("_source"),
            prov["_file"].alias("_file"),
            prov["_row"].alias("_row"),
            pick("column").alias("column"),
            pick("raw").alias("raw_value"),
            pick("reason").alias("reason"),
            pick("check").alias("check"),
            prov["_run_id"].alias("_run_id"),
            pl.lit(self.table).alias("table"),
            pl.lit("ingest").alias("stage"),
            prov["_file_sha256"].alias("_file_sha256"),
        )
        return good, quarantine.select(canonical.QUARANTINE.keys()).cast(canonical.QUARANTINE)

    # -- fields ----------------------------------------------------------------------------

    def _source_expr(self, name: str, batch: pl.DataFrame) -> tuple[pl.Expr | None, str | None]:
        """The delivered value for a canonical field: (expression, delivered column name)."""
        if f"__{name}" in batch.columns:  # delivered by reshaping or by the file reader
            return pl.col(f"__{name}"), None
        if name in self.src.fields:
            col = self.src.fields[name]
            return pl.col(col), col
        if name in self.src.constants:
            return pl.lit(self.src.constants[name]), None
        return None, None

    def _field_exprs(self, batch: pl.DataFrame) -> tuple[dict[str, pl.Expr], list[Problem]]:
        exprs: dict[str, pl.Expr] = {}
        problems: list[Problem] = []
        self._si_unit: dict[str, pl.Expr] = {}
        for name, dtype in self.schema.items():
            if name.startswith("_") or name == "equipment_id":
                continue
            src_expr, col = self._source_expr(name, batch)
            if src_expr is None:
                continue
            label = col or name
            delivered = batch.select(src_expr.alias("x")).schema["x"]
            if isinstance(dtype, pl.Float64):  # numbers always pass through unit conversion
                exprs[name], probs = self._numeric(name, src_expr, label, batch, delivered)
                problems += probs
            elif delivered == dtype and delivered != pl.String:
                exprs[name] = src_expr  # already typed by the reader (Parquet, images, ...)
            elif isinstance(dtype, pl.Datetime):
                exprs[name], prob = self._timestamp(name, src_expr, label, batch)
                if prob is not None:
                    problems.append(prob)
            elif isinstance(dtype, pl.Int64):
                exprs[name], prob = self._integer(src_expr, label)
                problems.append(prob)
            else:
                exprs[name] = src_expr.cast(pl.String).str.strip_chars()
        if "value" in self._si_unit and "unit" in self.schema:
            exprs["unit"] = self._si_unit["value"]  # the SI unit the value was converted to
        self._derived(exprs, batch)
        eq = self._equipment(batch)
        if eq is not None:
            exprs["equipment_id"], prob = eq
            if prob is not None:
                problems.insert(0, prob)
        return exprs, problems

    def _derived(self, exprs: dict[str, pl.Expr], batch: pl.DataFrame) -> None:
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
        self, name: str, expr: pl.Expr, label: str, batch: pl.DataFrame, delivered: pl.DataType
    ) -> tuple[pl.Expr, list[Problem]]:
        problems: list[Problem] = []
        if delivered.is_numeric():
            parsed = expr.cast(pl.Float64)  # typed by the reader: nothing to parse
        else:
            raw = self._memo_col(f"__raw.{name}", expr.cast(pl.String).str.strip_chars())
            parsed = self._memo_col(f"__num.{name}", raw.cast(pl.Float64, strict=False))
            problems.append(
                problem(
                    "non_numeric",
                    self._cell_label(label, batch),
                    raw.is_not_null() & (raw != "") & parsed.is_null(),
                    raw,
                    pl.format("non-numeric value '{}' in numeric column '{}'", raw, pl.lit(label)),
                )
            )
        unit_spec = self._unit_for(name, batch)
        if unit_spec is None:
            return parsed, problems
        if isinstance(unit_spec, str):
            scale, offset, si = units.to_si(unit_spec)
            self._si_unit[name] = pl.lit(si, pl.String)
            return parsed * scale + offset, problems
        # a per-row unit expression: convert through the distinct units of this batch
        unit_expr, unit_label = unit_spec
        distinct = [u for u in _distinct(batch, unit_expr).to_list() if u is not None]
        unit_expr = self._memo_col(f"__unit.{name}", unit_expr)
        table: dict[str, tuple[float, float, str]] = {}
        bad_units = []
        for u in distinct:
            try:
                table[u] = units.to_si(u)
            except units.UnitError:
                bad_units.append(u)
        # one lookup per row: the unit's position in `table` (null when unknown), then the scale,
        # offset and SI unit are gathered by position
        at = self._memo_col(f"__unit_at.{name}", unit_expr.replace_strict(
            {u: i for i, u in enumerate(table)}, default=None, return_dtype=pl.UInt32
        ))  # fmt: skip

        def lookup(i: int, dtype: pl.DataType) -> pl.Expr:
            return pl.lit(pl.Series([t[i] for t in table.values()], dtype=dtype)).gather(at)

        # a row without a unit is left as delivered (scale 1, offset 0); its unit stays null
        scale = pl.when(unit_expr.is_null()).then(1.0).otherwise(lookup(0, pl.Float64()))
        offset = pl.when(unit_expr.is_null()).then(0.0).otherwise(lookup(1, pl.Float64()))
        if bad_units:
            problems.append(
                problem(
                    "unknown_unit",
                    unit_label,
                    unit_expr.is_in(bad_units),
                    unit_expr,
                    pl.format("unit '{}' is not a known unit", unit_expr),
                )
            )
        self._si_unit[name] = lookup(2, pl.String())
        return parsed * scale + offset, problems

    def _unit_for(self, name: str, batch: pl.DataFrame) -> str | tuple[pl.Expr, str] | None:
        """The unit a numeric field is delivered in: a constant, or a per-row expression."""
        if name in self.src.units:
            return self.src.units[name]
        if name == "t_offset_s" and self.src.batch is not None:
            return self.src.batch.offset_unit
        if self.table != "sensor_readings" or name != "value":
            return None
        if "__unit" in batch.columns:
            return pl.col("__unit"), "unit"
        if "unit" in self.src.fields:
            col = self.src.fields["unit"]
            return _text(col), col
        if self.src.signal_units and "signal" in self.src.fields:
            sig = _text(self.src.fields["signal"])
            return sig.replace_strict(self.src.signal_units, default=None), "signal_units"
        return None

    @staticmethod
    def _cell_label(label: str, batch: pl.DataFrame) -> str | pl.Expr:
        """Reshaped files report the tag column of the cell, not the melted field."""
        return pl.col("__column") if "__column" in batch.columns else label

    def _integer(self, expr: pl.Expr, label: str) -> tuple[pl.Expr, Problem]:
        raw = expr.cast(pl.String).str.strip_chars()
        parsed = raw.cast(pl.Float64, strict=False)
        bad = raw.is_not_null() & (raw != "") & (parsed.is_null() | (parsed != parsed.round(0)))
        return parsed.cast(pl.Int64, strict=False), problem(
            "non_numeric", label, bad, raw,
            pl.format("not a whole number: '{}' in column '{}'", raw, pl.lit(label)),
        )  # fmt: skip

    def _timestamp(
        self, name: str, expr: pl.Expr, label: str, batch: pl.DataFrame
    ) -> tuple[pl.Expr, Problem | None]:
        dtype = batch.select(expr.alias("t")).schema["t"] if isinstance(expr, pl.Expr) else None
        spec = self.src.time
        if name not in self._time_formats and dtype == pl.String:
            sample = batch.select(expr.alias("t")).get_column("t").drop_nulls().head(1000)
            self._time_formats[name] = spec.format or timeutil.infer_format(sample)
        fmt = self._time_formats.get(name)
        kw = dict(timezone=self.timezone, fmt=fmt, ambiguous=spec.ambiguous,
                  nonexistent=spec.nonexistent, dtype=dtype)  # fmt: skip
        parsed = self._memo_col(f"__ts.{name}", timeutil.parse_local_to_utc(expr, **kw))
        check = timeutil.time_check(expr, **kw)
        raw = expr.cast(pl.String)
        # time_check is non-null exactly where a present value parses to null (its documented
        # contract), so the mask reuses the parsed column; the check itself is only evaluated on
        # quarantined rows.
        present = expr.is_not_null()
        if dtype is None or dtype == pl.String:
            present = present & (expr.cast(pl.String).str.strip_chars().str.len_chars() > 0)
        return parsed, problem(
            check,
            self._cell_label(label, batch),
            present & parsed.is_null(),
            raw,
            pl.format("{} '{}' in column '{}' (zone {})", check, raw, pl.lit(label),
                      pl.lit(self.timezone)),
        )  # fmt: skip

    # -- equipment -------------------------------------------------------------------------

    def _equipment(self, batch: pl.DataFrame) -> tuple[pl.Expr, Problem | None] | None:
        if "__equipment" in batch.columns:
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
        if len(roots) == 1 and roots[0] in batch.columns:
            # count the delivered spellings, then map the few distinct ones (same counts)
            counts = (
                batch.group_by(roots[0]).agg(pl.len().alias("n"))
                .select(alias.alias("a"), "n").group_by("a").agg(pl.col("n").sum())
            )  # fmt: skip
        else:
            counts = batch.select(alias.alias("a")).get_column("a").value_counts()
        resolved: dict[str, str | None] = {}
        for a, n in counts.iter_rows():
            if a is None:
                continue
            eid = self.aliases.get(normalize_alias(a))
            if eid is None and self.src.on_unknown_equipment == "keep":
                eid = f"{self.src.site}/unregistered/-/{_slug(a)}"
            resolved[a] = eid
            self.tally.seen[(a, eid)] += n
            if eid is None and a not in self.tally.suggestions:
                self.tally.suggestions[a] = self._suggest(a)
        mapping = {a: e for a, e in resolved.items() if e is not None}
        eid_expr = alias.replace_strict(mapping, default=None, return_dtype=pl.String)
        unknown = [a for a, e in resolved.items() if e is None]
        if not unknown:
            return eid_expr, None
        hint = {a: (f"; did you mean {s!r}?" if s else "") for a, s in
                ((a, self.tally.suggestions.get(a)) for a in unknown)}  # fmt: skip
        return eid_expr, problem(
            "unknown_equipment",
            label,
            alias.is_in(unknown),
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

    def _melt(self, batch: pl.DataFrame) -> pl.DataFrame:
        if self.src.wide is not None:
            keys = [self.src.wide.time_column]
        else:
            b = self.src.batch
            assert b is not None
            keys = [b.batch_column] + ([b.offset_column] if b.offset_column else [])
        tags = self._tag_columns(batch.columns, set(keys))
        if self.src.wide is not None and tags and _increasing(batch.get_column("_row")):
            return self._melt_rows(batch, keys, tags)
        long = batch.select(
            *keys, "_row", *[pl.col(t).cast(pl.String).alias(t) for t in tags]
        ).unpivot(index=[*keys, "_row"], on=tags, variable_name="__tag", value_name="__value")
        long = long.join(self.tag_table(tags), on="__tag", how="left")
        if self.src.wide is not None:
            long = long.with_columns(pl.col(self.src.wide.time_column).alias("__ts_utc"))
        else:
            long = self._batch_clock(long)
        # keep the delivered file order: row, then tag column order
        order = {t: i for i, t in enumerate(tags)}
        return long.with_columns(
            pl.col("__tag").replace_strict(order, return_dtype=pl.Int32).alias("__tag_pos"),
            pl.col("__tag").alias("__column"),
        ).sort("_row", "__tag_pos")

    def _melt_rows(self, batch: pl.DataFrame, keys: list[str], tags: list[str]) -> pl.DataFrame:
        """:meth:`_melt` for a wide file whose rows are in ``_row`` order: the same frame, with the
        cells put in row-then-tag order by one gather instead of a join with the tag table and a
        sort. ``unpivot`` stacks the tag columns one after the other (column-major)."""
        key = tuple(tags)
        table = self._tag_tables.get(key)
        if table is None:
            table = self._tag_tables[key] = self.tag_table(tags)
        n, t = batch.height, len(tags)
        tile = np.tile(np.arange(t, dtype=np.int32), n)
        pos = pl.Series("__tag_pos", tile)
        order = pl.Series(tile.astype(np.int64) * n + np.repeat(np.arange(n, dtype=np.int64), t))
        long = (
            batch.select(*keys, "_row", *[pl.col(c).cast(pl.String).alias(c) for c in tags])
            .unpivot(index=[*keys, "_row"], on=tags, variable_name="__tag", value_name="__value")
            .drop("__tag")
            .select(pl.all().gather(order))
        )
        assert self.src.wide is not None
        self._cells = table.with_columns(
            pl.col("__tag").alias("__column"), pl.int_range(t, dtype=pl.Int32).alias("__tag_pos")
        )
        return long.with_columns(
            *[table.get_column(c).gather(pos) for c in table.columns],
            pl.col(self.src.wide.time_column).alias("__ts_utc"),
            pos,
        ).with_columns(pl.col("__tag").alias("__column"))

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


def _increasing(s: pl.Series) -> bool:
    return bool((s.diff().drop_nulls() > 0).all())


def _distinct(batch: pl.DataFrame, expr: pl.Expr) -> pl.Series:
    """Distinct values of an elementwise expression; one of a single column is evaluated on that
    column's distinct values only (a few, where the batch has many rows)."""
    roots = expr.meta.root_names()
    if len(roots) == 1 and roots[0] in batch.columns:
        batch = batch.select(pl.col(roots[0]).unique())
    return batch.select(expr.alias("u")).get_column("u").unique()


def _slug(text: str) -> str:
    key = normalize_alias(text)
    s = re.sub(r"[^a-z0-9_.-]+", "-", key).strip("-")
    if re.search(r"[^a-z0-9_.\s-]", key):
        # characters an id cannot spell (CJK, symbols) would be dropped, and '3号机床' and '3号泵'
        # would become one machine: a short hash of the spelling keeps them apart
        import hashlib

        s = f"{s}-{hashlib.sha256(key.encode()).hexdigest()[:8]}".strip("-")
    return s or "x"
