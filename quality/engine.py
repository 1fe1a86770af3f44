"""Run a suite on a polars frame: the fast (polars) engine or GX's own pandas engine.

:func:`run_suite` returns a :class:`~quality.results.SuiteResult` with one
:class:`~quality.results.ExpectationOutcome` per enabled expectation and the rows that failed
row-level expectations. :func:`validate_table` runs the suite per ``_source`` slice (each with the
overrides in force for that source), then splits the frame into good rows and quarantine rows (one
per rejected input row).

The result types live in :mod:`quality.results` (and are importable from here), the GX-engine path
in :mod:`quality.gx_engine`, the building of quarantine rows in :mod:`quality.quarantine`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from quality import fast
from quality.gx_engine import _run_gx
from quality.quarantine import _quarantine_rows
from quality.results import (
    PARTIAL,
    SUMMARY_SCHEMA,
    ExpectationOutcome,
    SuiteResult,
    TableValidation,
    _jsonable,
    _outcome,
    summarize,
)
from quality.spec import ExpectationSpec, Suite

if TYPE_CHECKING:
    from corpusmill.config import SourcesConfig

Engine = Literal["fast", "gx"]


# -- the fast engine -----------------------------------------------------------------------------


def _run_fast(
    df: pl.DataFrame, specs: list[tuple[int, ExpectationSpec, Any]]
) -> tuple[dict[int, ExpectationOutcome], dict[int, pl.Series]]:
    """Evaluate planned specs; returns outcomes and the per-spec unexpected masks (row-level)."""
    outcomes: dict[int, ExpectationOutcome] = {}
    masks: dict[int, pl.Series] = {}
    maps = [(i, s, p) for i, s, p in specs if isinstance(p, fast.MapPlan)]
    aggs = [(i, s, p) for i, s, p in specs if isinstance(p, fast.AggPlan)]
    n = df.height

    stats_exprs: list[pl.Expr] = []
    for i, _s, p in maps:
        stats_exprs.append((p.domain.sum() if p.domain is not None else pl.len()).alias(f"e{i}"))
        if p.missing is not None:
            stats_exprs.append(p.missing.sum().alias(f"m{i}"))
    for i, _s, p in aggs:
        if p.observed is not None:
            stats_exprs.append(p.observed.alias(f"o{i}"))
    # One parallel pass for the masks (the expensive part: regex, hashing), one for the counts.
    mask_df = df.select([p.bad.alias(f"b{i}") for i, _s, p in maps]) if maps else None
    stats = df.select(stats_exprs).row(0, named=True) if stats_exprs else {}
    counts = mask_df.sum().row(0, named=True) if mask_df is not None else {}

    for i, s, p in aggs:
        observed = p.constant if p.observed is None else stats[f"o{i}"]
        shown = None if s.type == "ExpectColumnToExist" else observed  # GX reports nothing
        outcomes[i] = _outcome(s, "fast", success=fast.agg_success(s, observed),
                               observed_value=shown)  # fmt: skip
    for i, s, p in maps:
        mask = mask_df.get_column(f"b{i}")
        masks[i] = mask
        unexpected = int(counts[f"b{i}"] or 0)
        sub = df.select(p.values)[mask.arg_true().head(PARTIAL)] if unexpected else None
        element = int(stats[f"e{i}"])
        missing = int(stats[f"m{i}"]) if p.missing is not None else None
        outcomes[i] = _map_outcome(s, p, element, missing, unexpected, sub)
    return outcomes, masks


def _map_outcome(
    s: ExpectationSpec, p: fast.MapPlan, element: int, missing: int | None, unexpected: int,
    sub: pl.DataFrame | None,
) -> ExpectationOutcome:  # fmt: skip
    """A map expectation's outcome from its counts and ``sub``, the values of its first
    unexpected rows (at most :data:`PARTIAL`, in frame order; None when there are none)."""
    considered = element - (missing or 0)
    if p.missing is None:  # not-null: GX uses the row count, not the non-missing count
        success = fast.mostly_success(element, unexpected, s.mostly)
        pct = unexpected / element * 100 if element else None
    else:
        success = fast.mostly_success(considered, unexpected, s.mostly)
        pct = unexpected / considered * 100 if considered else None
    partial: list[Any] = []
    if unexpected and sub is not None:
        if p.value_kind == "scalar":
            partial = sub.get_column(p.values[0]).to_list()
        elif p.value_kind == "pair":
            partial = [list(r) for r in sub.iter_rows()]
        else:
            partial = sub.to_dicts()
        partial = [_jsonable(v) for v in partial]
    return _outcome(
        s, "fast", success=success, element_count=element, missing_count=missing,
        unexpected_count=unexpected, unexpected_percent=pct, partial_unexpected_list=partial,
    )  # fmt: skip


# -- public entry points -------------------------------------------------------------------------


def run_suite(df: pl.DataFrame, suite: Suite, *, engine: Engine = "fast") -> SuiteResult:
    """Run the enabled expectations of ``suite`` on ``df``.

    Parameters
    ----------
    engine
        ``"fast"`` evaluates every expectation it covers as polars expressions and hands the rest
        to GX; ``"gx"`` runs everything through GX's pandas engine.
    """
    if engine not in ("fast", "gx"):
        msg = f"engine must be 'fast' or 'gx', got {engine!r}"
        raise ValueError(msg)
    specs = list(enumerate(suite.enabled))
    planned: list[tuple[int, ExpectationSpec, Any]] = []
    fallback: list[tuple[int, ExpectationSpec]] = []
    for i, s in specs:
        p = fast.plan(s, df.schema) if engine == "fast" else None
        if p is None:
            fallback.append((i, s))
        else:
            planned.append((i, s, p))
    outcomes, masks = _run_fast(df, planned) if planned else ({}, {})
    indices: dict[int, list[int]] = {}
    if fallback:
        o2, indices = _run_gx(df, fallback, suite.name)
        outcomes.update(o2)
    results = [outcomes[i] for i, _s in specs]

    row_failures = _row_failures(df.height, specs, masks, indices)
    success = not any(r.blocking for r in results)
    return SuiteResult(suite_name=suite.name, table=suite.table, success=success, results=results,
                       row_failures=row_failures, n_rows=df.height)  # fmt: skip


def _row_failures(
    n: int,
    specs: list[tuple[int, ExpectationSpec]],
    masks: dict[int, pl.Series],
    indices: dict[int, list[int]],
) -> pl.DataFrame | None:
    cols: list[pl.Series] = []
    names: list[str] = []
    for i, s in specs:
        if not s.row_level:
            continue
        if i in masks:
            m = masks[i]
        elif i in indices:
            m = pl.select(pl.int_range(n).is_in(pl.Series(indices[i], dtype=pl.Int64).implode())
                          ).to_series()  # fmt: skip
        else:
            continue
        cols.append(m.rename(f"b{len(names)}"))
        names.append(s.name)
    if not cols:
        return None
    frame = pl.DataFrame(cols)
    any_bad = frame.select(pl.any_horizontal(pl.all()).fill_null(False)).to_series()
    idx = any_bad.arg_true()
    if idx.len() == 0:
        return pl.DataFrame(schema={"_idx": pl.Int64, "failed": pl.List(pl.String)})
    sub = frame[idx]
    failed = sub.select(
        pl.concat_list(
            [pl.when(pl.col(f"b{j}")).then(pl.lit(nm)).otherwise(pl.lit(None, pl.String))
             for j, nm in enumerate(names)]  # fmt: skip
        ).list.drop_nulls().alias("failed")
    ).to_series()
    return pl.DataFrame({"_idx": idx.cast(pl.Int64), "failed": failed})


# -- tables: per-source validation, quarantine ---------------------------------------------------


def _overrides_for(cfg: SourcesConfig | None, source: str | None) -> Any:
    if cfg is None:
        return None
    if source is not None:
        try:
            src = cfg.source(source)
        except KeyError:
            src = None
        if src is not None:
            return cfg.quality_overrides(src)
    return cfg.quality_overrides()


def validate_table(
    df: pl.DataFrame,
    table: str,
    cfg: SourcesConfig | None,
    *,
    run_id: str,
    engine: str = "fast",
) -> TableValidation:
    """Validate ``df`` (rows of canonical ``table``) per ``_source`` and quarantine bad rows.

    Every suite is built (overrides applied, checked against ``df.schema``) before any slice is
    validated, so a bad override fails fast with :class:`~quality.spec.SuiteError`.
    """
    from quality.suites import suite_for

    n = df.height
    run_time = dt.datetime.now(dt.UTC).isoformat()
    slices: list[tuple[str | None, pl.Series | None]]
    if "_source" in df.columns and n and df.get_column("_source").n_unique() > 1:
        groups = (
            df.select(pl.int_range(n, dtype=pl.Int64).alias("_i"), pl.col("_source"))
            .group_by("_source", maintain_order=True)
            .agg(pl.col("_i"))
        )
        idx_col = groups.get_column("_i")
        slices = [(name, idx_col[k]) for k, name in enumerate(groups.get_column("_source"))]
    elif "_source" in df.columns and n:
        slices = [(df.get_column("_source")[0], None)]
    else:
        slices = [(None, None)]
    suites = {name: suite_for(table, _overrides_for(cfg, name), schema=df.schema)
              for name, _ in slices}  # fmt: skip

    results: list[SuiteResult] = []
    bad_parts: list[pl.DataFrame] = []
    for name, idx in slices:
        suite = suites[name]
        part = df if idx is None else df[idx]
        res = run_suite(part, suite, engine=engine)  # type: ignore[arg-type]
        res.source = name
        res.meta.update({"run_id": run_id, "run_time": run_time})
        results.append(res)
        q = _quarantine_rows(part, suite, res, table, run_id)
        if q is not None:
            local, qrows = q
            glob = local if idx is None else idx.gather(local)
            bad_parts.append(qrows.with_columns(glob.alias("__g")))
    if bad_parts:
        bad = pl.concat(bad_parts).sort("__g")
        keep_mask = ~pl.select(pl.int_range(n, dtype=pl.Int64).is_in(bad["__g"].implode())).to_series()
        good = df.filter(keep_mask)
        quarantine = bad.drop("__g")
    else:
        good = df
        from corpusmill.canonical import empty_quarantine

        quarantine = empty_quarantine()
    return TableValidation(
        table=table, good=good, quarantine=quarantine, results=results,
        summary=summarize(results), rows_in=n, rows_kept=good.height,
        rows_quarantined=quarantine.height, run_id=run_id,
    )  # fmt: skip


def validate_lazy(
    lf: pl.LazyFrame, table: str, cfg: SourcesConfig | None, *, run_id: str
) -> tuple[TableValidation, pl.Series] | None:
    """:func:`validate_table` on a lazy frame with the fast engine, in bounded memory.

    The counts of every expectation are sums computed on polars' streaming engine, and only the
    rows failing some expectation are collected (for the quarantine rows and the unexpected
    values GX lists), so memory holds the failing rows, not the table. Returns the validation and
    the positions (in ``lf``) of the quarantined rows; its ``good`` holds only the first good
    rows (:data:`PREVIEW`), the caller streams the rest. Returns None when some expectation
    cannot run this way (see :func:`quality.fast.streamable`): validate the frame instead.
    """
    from corpusmill.canonical import empty_quarantine
    from quality.suites import suite_for

    schema = lf.collect_schema()
    run_time = dt.datetime.now(dt.UTC).isoformat()
    g = lf.with_row_index("__g")
    n = int(lf.select(pl.len()).collect(engine="streaming").item())
    names: list[str | None]
    if "_source" in schema and n:
        firsts = (
            g.group_by("_source").agg(pl.col("__g").min()).sort("__g").collect(engine="streaming")
        )
        names = firsts.get_column("_source").to_list()
    else:
        names = [None]
    suites = {name: suite_for(table, _overrides_for(cfg, name), schema=schema) for name in names}
    plans = {}
    for name, suite in suites.items():
        plans[name] = [(i, sp, fast.plan(sp, schema)) for i, sp in enumerate(suite.enabled)]
        if not all(fast.streamable(sp, p, schema) for _i, sp, p in plans[name]):
            return None

    results: list[SuiteResult] = []
    bad_parts: list[pl.DataFrame] = []
    for name in names:
        suite = suites[name]
        part = g if len(names) == 1 else g.filter(pl.col("_source").eq_missing(name))
        part = part.with_row_index("__l")
        planned = plans[name]
        maps = [(i, sp, p) for i, sp, p in planned if isinstance(p, fast.MapPlan)]
        exprs: list[pl.Expr] = [pl.len().alias("__n")]
        for i, _sp, p in planned:
            if isinstance(p, fast.MapPlan):
                exprs.append((p.domain.sum() if p.domain is not None else pl.len()).alias(f"e{i}"))
                exprs.append(p.bad.sum().alias(f"b{i}"))
                if p.missing is not None:
                    exprs.append(p.missing.sum().alias(f"m{i}"))
            elif p.observed is not None:
                exprs.append(p.observed.alias(f"o{i}"))
        stats = part.select(exprs).collect(engine="streaming").row(0, named=True)
        flags = [p.bad.fill_null(False).alias(f"b{i}") for i, _sp, p in maps]
        failing = (
            part.with_columns(flags).filter(pl.any_horizontal(pl.col(f"b{i}") for i, _s, _p in maps))
            .collect(engine="streaming").sort("__l")
            if maps else None
        )  # fmt: skip
        outcomes: dict[int, ExpectationOutcome] = {}
        for i, sp, p in planned:
            if isinstance(p, fast.MapPlan):
                unexpected = int(stats[f"b{i}"] or 0)
                sub = failing.filter(pl.col(f"b{i}")).select(p.values).head(PARTIAL) if unexpected else None
                missing = int(stats[f"m{i}"]) if p.missing is not None else None
                outcomes[i] = _map_outcome(sp, p, int(stats[f"e{i}"]), missing, unexpected, sub)
            else:
                observed = p.constant if p.observed is None else stats[f"o{i}"]
                shown = None if sp.type == "ExpectColumnToExist" else observed
                outcomes[i] = _outcome(sp, "fast", success=fast.agg_success(sp, observed),
                                       observed_value=shown)  # fmt: skip
        res_list = [outcomes[i] for i, _sp in enumerate(suite.enabled)]
        rows = failing if failing is not None else pl.DataFrame(schema={"__l": pl.UInt32})
        masks = {i: rows.get_column(f"b{i}") for i, sp, _p in maps}
        local = _row_failures(rows.height, list(enumerate(suite.enabled)), masks, {})
        res = SuiteResult(suite_name=suite.name, table=suite.table,
                          success=not any(r.blocking for r in res_list), results=res_list,
                          row_failures=None, n_rows=int(stats["__n"]))  # fmt: skip
        # the row failures as validate_table's: positions within this source's rows
        if local is not None:
            res.row_failures = local.with_columns(
                rows.get_column("__l").cast(pl.Int64).gather(local.get_column("_idx")).alias("_idx")
            )
        res.source = name
        res.meta.update({"run_id": run_id, "run_time": run_time})
        results.append(res)
        if local is not None:
            q = _quarantine_rows(rows, suite, dataclasses.replace(res, row_failures=local), table,
                                 run_id)  # fmt: skip
            if q is not None:
                at, qrows = q
                bad_parts.append(qrows.with_columns(rows.get_column("__g").gather(at).alias("__g")))
    if bad_parts:
        bad = pl.concat(bad_parts).sort("__g")
        bad_g, quarantine = bad.get_column("__g"), bad.drop("__g")
    else:
        bad_g, quarantine = pl.Series("__g", [], pl.UInt32), empty_quarantine()
    preview = (
        g.filter(~pl.col("__g").is_in(bad_g.implode())).head(PREVIEW).drop("__g").collect()
    )
    validation = TableValidation(
        table=table, good=preview, quarantine=quarantine, results=results,
        summary=summarize(results), rows_in=n, rows_kept=n - quarantine.height,
        rows_quarantined=quarantine.height, run_id=run_id,
    )  # fmt: skip
    return validation, bad_g


#: Good rows a lazily validated table's ``good`` holds (a preview; the table is streamed).
PREVIEW = 20


__all__ = ["PARTIAL", "SUMMARY_SCHEMA", "Engine", "ExpectationOutcome", "SuiteResult",
           "TableValidation", "run_suite", "summarize", "validate_lazy", "validate_table"]  # fmt: skip
