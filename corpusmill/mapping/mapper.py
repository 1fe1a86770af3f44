"""The :class:`Mapper`: the fast pass and the exact pass over each batch of one file.

It owns the state kept across the batches of the file (one object per concern: text, units,
timestamps, equipment, reshaping), builds each canonical field from its concern's expressions, and
turns the staged pass into canonical rows and quarantine rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from corpusmill import canonical
from corpusmill.config import Source, SourcesConfig
from corpusmill.mapping.equipment import AliasTally, Equipment
from corpusmill.mapping.fields import Text, integer, number
from corpusmill.mapping.problems import MappingError, Problem
from corpusmill.mapping.reshape import Factored, Reshaper
from corpusmill.mapping.staging import Pass
from corpusmill.mapping.time import Timestamps
from corpusmill.mapping.units import Units

#: Canonical identifier fields that default to "<source>:<file name>:<row>" when not mapped.
ID_FIELDS = {
    "production_events": "event_id",
    "quality_inspections": "inspection_id",
    "maintenance_records": "record_id",
    "documents": "doc_id",
    "inspection_images": "image_id",
}


@dataclass
class FileContext:
    """The delivery a batch comes from, stamped on each of its canonical and quarantine rows so
    every row traces back to its file and run."""

    source: str
    file: str
    sha256: str
    run_id: str
    table: str


class Mapper:
    """Maps batches of one file of one source onto its canonical table."""

    def __init__(self, cfg: SourcesConfig, src: Source, ctx: FileContext, columns: list[str]):
        self.cfg = cfg
        self.src = src
        self.ctx = ctx
        self.columns = columns
        self.table = canonical.KIND_TABLE[src.kind]
        self.schema = canonical.schema(self.table)
        # state kept across the batches of the file, so a batch resolves only values it is the
        # first to deliver
        self._text = Text()
        self._units = Units(src, self.table)
        self._times = Timestamps(src.time, cfg.timezone_for(src))
        self._equipment = Equipment(src, cfg.alias_map())
        self._reshaper = Reshaper(src, _file_id(src, ctx.file))
        self._constants: dict[str, pl.Series] = {}  # provenance column -> its last batch's rows
        self._check_columns()

    @property
    def tally(self) -> AliasTally:
        """Every equipment spelling this file delivered so far and its id: ingest keeps it per
        file, so unknown spellings can be added to the registry."""
        return self._equipment.tally

    @property
    def aliases(self) -> dict[str, str]:
        """The registry the spellings are resolved against (normalised spelling -> id)."""
        return self._equipment.aliases

    # -- column checks ---------------------------------------------------------------------

    def _mapped_columns(self) -> dict[str, str]:
        """Delivered column -> what it is used for, for every column the mapping needs."""
        need = {col: f"fields.{f}" for f, col in self.src.fields.items()}
        for spec_name, spec in (("wide", self.src.wide), ("batch", self.src.batch)):
            if spec is None:
                continue
            for attr in ("time_column", "batch_column", "offset_column", "variable_column"):
                col = getattr(spec, attr, None)
                if col:
                    need[col] = f"{spec_name}.{attr}"
        return need

    def missing_columns(self) -> dict[str, str]:
        have = set(self.columns)
        return {c: use for c, use in self._mapped_columns().items() if c not in have}

    def tag_columns(self, columns: list[str], exclude: set[str]) -> list[str]:
        """A wide or batch file's columns holding readings: each of their cells is one reading."""
        return self._reshaper.tag_columns(columns, exclude)

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
        slower, and the reference the two passes must equal. Only the fast pass counts the
        :attr:`tally`, as each row goes through it once.
        """
        batch = batch.rechunk()  # streamed batches arrive in many chunks; each op pays for them
        dims: Factored | None = None  # a wide batch's per-row and per-tag frames
        if self.src.shape in ("wide", "batch") and self.src.kind == "sensor":
            batch, dims = self._reshaper.melt(batch)
        if exact:
            cells = _unfactored(batch, dims).rechunk().with_row_index("__pos")
            good, bad = self._exact(Pass(cells, None, fast=False))
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
        sub = _unfactored(batch.filter(flags), dims).rechunk()
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
            [pl.when(q.mask).then(pl.lit(i, pl.Int32)) for i, q in enumerate(problems)]
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
                [pl.when(pl.col("_problem") == i).then(getattr(q, attr).cast(pl.String))
                 for i, q in enumerate(problems)]
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
                e = self._constant(name, constant[name], staged.height)
            elif name in exprs and self._is_field(name):
                e = pl.col(f"__out.{name}")
            else:
                e = pl.lit(None)
            cols.append(e.cast(dtype).alias(name))
        return staged.select(*cols, *(keep or []))

    def _constant(self, name: str, value: str, height: int) -> pl.Expr:
        """A provenance column of ``height`` rows of ``value``, built once per batch height.

        A broadcast literal is materialised row by row when the batch goes to Arrow, copying the
        text into every row (the file path and checksum are longer than Arrow's inline views);
        this column's rows share one copy, and the batches of a file (one height, but for the
        last) reuse it.
        """
        if height == 0:
            return pl.lit(value, pl.String)
        cached = self._constants.get(name)
        if cached is None or cached.len() != height:
            cached = pl.Series(name, [value], dtype=pl.String).new_from_index(0, height)
            self._constants[name] = cached
        return pl.lit(cached)

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
                parsed, bad_number = number(name, src_expr, label, p, delivered)
                exprs[name], bad_unit, si = self._units.convert(name, parsed, p)
                problems += [q for q in (bad_number, bad_unit) if q is not None]
                if si is not None:
                    si_units[name] = si
            elif delivered == dtype and delivered != pl.String:
                exprs[name] = src_expr  # already typed by the reader (Parquet, images, ...)
            elif isinstance(dtype, pl.Datetime):
                exprs[name], prob = self._times.parse(name, src_expr, label, p)
                if prob is not None:
                    problems.append(prob)
            elif isinstance(dtype, pl.Int64):
                exprs[name], prob = integer(src_expr, label)
                problems.append(prob)
            else:
                exprs[name] = self._text.of(src_expr, p)
        if "value" in si_units and "unit" in self.schema:
            exprs["unit"] = si_units["value"]  # the SI unit the value was converted to
        self._derived(exprs)
        eq = self._equipment.ids(p, tally=p.fast)  # the fast pass sees every row: it counts them
        if eq is not None:
            exprs["equipment_id"], prob = eq
            if prob is not None:
                problems.insert(0, prob)
        return exprs, problems

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


def _unfactored(cells: pl.DataFrame, dims: Factored | None) -> pl.DataFrame:
    """The exact pass reads plain rows: a factored batch's cells with their row's and tag's
    columns."""
    return dims.materialize(cells) if dims is not None else cells


def _file_id(src: Source, file: str) -> str | None:
    """The batch_id of a run_from: file source's file: its stem, or its path relative to the
    sources file (as given when it lies elsewhere, e.g. an object store)."""
    if src.batch is None or src.batch.run_from != "file":
        return None
    from pathlib import PurePosixPath

    if src.batch.file_id == "stem":
        return PurePosixPath(file.replace("\\", "/")).stem
    return file  # the rows' _file: relative to the sources file, or a URI
