"""The per-pool view of a plan that people read: a table (devices, shards, tokens, hours, cost,
egress, idle) and a text bar chart of each pool's load, shared by the CLI and the asset page.

``idle`` is the fraction of the run a pool waits for the slowest pool: ``1 - hours / makespan``
from the plan's predicted hours, or the simulated idle fraction when a simulation is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from corpusmill.shards.model import ShardPlan
    from corpusmill.shards.sim import SimResult

POOL_TABLE_SCHEMA = pl.Schema(
    {
        "pool": pl.String(),
        "devices": pl.Int64(),
        "shards": pl.Int64(),
        "tokens": pl.Int64(),
        "hours": pl.Float64(),
        "cost_usd": pl.Float64(),
        "egress_gib": pl.Float64(),
        "idle": pl.Float64(),
        "status": pl.String(),
    }
)

BAR = "█"


def pool_table(plan: ShardPlan, sim: SimResult | None = None) -> pl.DataFrame:
    """One row per pool of the plan (unused pools included, with their status)."""
    p = plan.pools
    makespan = float(p["predicted_hours"].max() or 0.0)
    rows = []
    for r in p.iter_rows(named=True):
        if sim is not None:
            idle = sim.idle_fraction.get(r["pool"])
        else:
            idle = 1 - r["predicted_hours"] / makespan if r["samples"] and makespan else None
        rows.append(
            {
                "pool": r["pool"], "devices": r["devices"], "shards": r["shards"],
                "tokens": r["tokens"], "hours": _sig(r["predicted_hours"]),
                "cost_usd": _sig(r["cost_usd"] + r["egress_usd"]),
                "egress_gib": _sig(r["egress_gib"]),
                "idle": round(idle, 4) if idle is not None else None, "status": r["status"],
            }
        )  # fmt: skip
    return pl.DataFrame(rows, schema=POOL_TABLE_SCHEMA)


def _sig(x: float) -> float:
    """Four significant digits: readable for a 3 s pool and a 300 h pool alike."""
    return float(f"{x:.4g}")


def load_chart(table: pl.DataFrame, *, width: int = 30) -> str:
    """A Markdown table with a bar per pool: its tokens against the largest pool's, and hours."""
    top = max(int(table["tokens"].max() or 0), 1)
    lines = ["| pool | load (tokens) | share | hours |", "|---|---|---:|---:|"]
    total = max(int(table["tokens"].sum()), 1)
    for r in table.iter_rows(named=True):
        n = round(width * r["tokens"] / top)
        bar = BAR * n if n else ("▏" if r["tokens"] else "")
        lines.append(f"| {r['pool']} | `{bar}` | {r['tokens'] / total:.1%} | {r['hours']:.4g} |")
    return "\n".join(lines)
