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
        element = int(stats[f"e{i}"])
        missing = int(stats[f"m{i}"]) if p.missing is not None else None
        unexpected = int(counts[f"b{i}"] or 0)
        considered = element - (missing or 0)
        if p.missing is None:  # not-null: GX uses the row count, not the non-missing count
            success = fast.mostly_success(element, unexpected, s.mostly)
            pct = unexpected / element * 100 if element else None
        else:
            success = fast.mostly_success(considered, unexpected, s.mostly)
            pct = unexpected / considered * 100 if considered else None
        partial: list[Any] = []
        if unexpected:
            idx = mask.arg_true().head(PARTIAL)
            sub = df.select(p.values)[idx]
            if p.value_kind == "scalar":
                partial = sub.get_column(p.values[0]).to_list()
            elif p.value_kind == "pair":
                partial = [list(r) for r in sub.iter_rows()]
            else:
                partial = sub.to_dicts()
            partial = [_jsonable(v) for v in partial]
        outcomes[i] = _outcome(
            s, "fast", success=success, element_count=element, missing_count=missing,
            unexpected_count=unexpected, unexpected_percent=pct, partial_unexpected_list=partial,
        )  # fmt: skip
    return outcomes, masks


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


__all__ = ["PARTIAL", "SUMMARY_SCHEMA", "Engine", "ExpectationOutcome", "SuiteResult",
           "TableValidation", "run_suite", "summarize", "validate_table"]  # fmt: skip
