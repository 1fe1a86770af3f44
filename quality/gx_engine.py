"""The GX engine: expectations run through Great Expectations' own pandas engine.

:func:`quality.engine.run_suite` sends here every expectation the fast engine does not cover (all
of them with ``engine="gx"``). The frame is converted to pandas (only the columns the expectations
read) and validated in the shared ephemeral context of :mod:`quality._gx`, which imports GX.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from quality.results import PARTIAL, ExpectationOutcome, _jsonable, _outcome
from quality.spec import ExpectationSpec


def _to_pandas(df: pl.DataFrame, specs: list[ExpectationSpec]) -> Any:
    import pandas as pd

    cols: list[str] = []
    for s in specs:
        for c in s.columns + [c.column for c in s.where]:
            if c in df.columns and c not in cols:
                cols.append(c)
    if not cols:
        return pd.DataFrame(index=pd.RangeIndex(df.height))
    return df.select(cols).to_pandas()


def _run_gx(
    df: pl.DataFrame, specs: list[tuple[int, ExpectationSpec]], suite_name: str
) -> tuple[dict[int, ExpectationOutcome], dict[int, list[int]]]:
    """Evaluate specs with GX's pandas engine; returns outcomes and unexpected row indices."""
    from quality._gx import gx_module, pandas_batch

    gx = gx_module()
    pdf = _to_pandas(df, [s for _i, s in specs])
    batch = pandas_batch(pdf)
    gsuite = gx.ExpectationSuite(name=suite_name)
    for _i, s in specs:
        gsuite.add_expectation(s.to_gx())
    res = batch.validate(
        gsuite, result_format={"result_format": "COMPLETE", "partial_unexpected_count": PARTIAL}
    )
    outcomes: dict[int, ExpectationOutcome] = {}
    indices: dict[int, list[int]] = {}
    # GX does not keep suite order in its results: match them by the name in their meta.
    by_name = {r.expectation_config.meta.get("name"): r for r in res.results}
    for i, s in specs:
        r = by_name[s.name]
        rr = r.result or {}
        exc = r.exception_info or {}
        if isinstance(exc, dict) and "raised_exception" not in exc and exc:
            exc = next(iter(exc.values()))
        message = exc.get("exception_message") if exc.get("raised_exception") else None
        if s.row_level:
            idx = list(rr.get("unexpected_index_list") or [])
            indices[i] = [int(x) for x in idx]
            outcomes[i] = _outcome(
                s, "gx", success=bool(r.success), element_count=rr.get("element_count"),
                missing_count=rr.get("missing_count"), unexpected_count=rr.get("unexpected_count"),
                unexpected_percent=rr.get("unexpected_percent"),
                partial_unexpected_list=[_jsonable(v) for v in rr.get("partial_unexpected_list") or []],
                exception=message,
            )  # fmt: skip
        else:
            outcomes[i] = _outcome(s, "gx", success=bool(r.success),
                                   observed_value=_jsonable(rr.get("observed_value")),
                                   exception=message)  # fmt: skip
    return outcomes, indices

