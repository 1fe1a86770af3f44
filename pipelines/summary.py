"""The summary `demo`, `run` and `status` print: all of it read back through the DuckDB catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from corpusmill import canonical, sandbox

if TYPE_CHECKING:
    from rich.table import Table

    from corpusmill.home import Home

QUERIES: dict[str, str] = {
    "Rows per canonical table": " UNION ALL ".join(
        f"SELECT '{t}' AS \"table\", count(*) AS rows FROM {t}" for t in canonical.TABLES
    ),
    "Rows quarantined, by stage and reason": (
        'SELECT "table", stage, "check", count(*) AS rows FROM quarantine '
        "GROUP BY ALL ORDER BY \"table\", stage, rows DESC"
    ),
    "Corpus versions": (
        "SELECT corpus, version, rows, left(content_hash, 12) AS content_hash, created_at "
        "FROM corpus_versions ORDER BY corpus, version"
    ),
    "Sensor readings per equipment (SI units, UTC)": (
        "SELECT equipment_id, signal, unit, count(*) AS n, round(avg(value), 2) AS mean, "
        "min(ts_utc) AS first_utc FROM sensor_readings GROUP BY ALL ORDER BY equipment_id, signal "
        "LIMIT 12"
    ),
    "Shard plan per training job and pool": (
        "SELECT job_name AS job, corpus, pool, count(*) AS shards, sum(samples) AS samples, "
        "sum(tokens) AS tokens, round(max(predicted_hours), 4) AS hours FROM shard_plan "
        "GROUP BY ALL ORDER BY job, pool"
    ),
}


def rich_table(df: pl.DataFrame, *, title: str | None = None, limit: int = 200) -> Table:
    from rich.table import Table

    t = Table(title=title, title_justify="left", header_style="bold")
    for c in df.columns:
        t.add_column(c, justify="right" if df.schema[c].is_numeric() else "left")
    for row in df.head(limit).iter_rows():
        t.add_row(*["" if v is None else str(v) for v in row])
    return t


def print_summary(home: Home) -> None:
    from rich.console import Console

    con = Console()
    for title, sql in QUERIES.items():
        try:
            df = sandbox.query(home, sql)
        except Exception as e:  # noqa: BLE001 - a view may not exist yet (e.g. no shard plan)
            con.print(f"[dim]{title}: not available ({type(e).__name__})[/]")
            continue
        con.print(rich_table(df, title=title))
