"""``mes_work_orders`` and ``mes_batches``: both sites' production events in one MES SQLite file.

The two tables have the same layout under different column names; each site's MES writes its own
clock, machine names and status word. The ``sources.yaml`` entries are read back from the schema,
so the query and field mapping always name the columns the file really has.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from corpusmill.generate.plant import MACHINE, SHANGHAI, UTC, Order, Plan
from corpusmill.generate.truth import Written, tally_for

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: The canonical field behind each column, in the column order both tables share.
COLUMN_FIELDS = ("event_id", "equipment_id", "product", "lot_id", "quantity_planned",
                 "quantity_good", "quantity_scrap", "status", "start_utc", "end_utc")  # fmt: skip
#: The order ``sources.yaml`` lists the fields in.
SOURCE_FIELDS = ("event_id", "equipment_id", "product", "lot_id", "start_utc", "end_utc",
                 "quantity_planned", "quantity_good", "quantity_scrap", "status")  # fmt: skip


@dataclass(frozen=True)
class _Table:
    """How one site's MES keeps its orders: one table of ``mes.sqlite``, one source."""

    name: str  # the SQLite table
    source: str  # the source name in sources.yaml
    site: str
    event_type: str
    status: str  # every order is finished; how this MES says so
    clock: tzinfo  # the wall clock its timestamps are written in
    machine: Callable[[str], str]  # registry id -> how this MES names the machine

    def rows(self, orders: tuple[Order, ...]) -> list[tuple[Any, ...]]:
        return [(o.id, self.machine(o.equipment), o.product, o.lot, o.planned, o.good, o.scrap,
                 self.status, f"{o.start.astimezone(self.clock):{TIME_FORMAT}}",
                 f"{o.end.astimezone(self.clock):{TIME_FORMAT}}") for o in orders]  # fmt: skip

    def entry(self, rel: str, columns: list[str], time: dict[str, str]) -> dict[str, Any]:
        column = dict(zip(COLUMN_FIELDS, columns, strict=True))
        query = f"SELECT {', '.join(columns)} FROM {self.name} ORDER BY {column['event_id']}"
        return {
            "name": self.source, "site": self.site, "kind": "production", "path": rel,
            "format": "sqlite",
            "read": {"query": query},
            "fields": {f: column[f] for f in SOURCE_FIELDS},
            "constants": {"event_type": self.event_type},
            "time": time,
        }  # fmt: skip


#: Suzhou's MES keeps local wall-clock time and its own machine codes.
WORK_ORDERS = _Table("work_orders", "mes_work_orders", "suzhou", "work_order", "完工", SHANGHAI,
                     lambda eq: MACHINE[eq].aliases[1])  # fmt: skip
#: Shenzhen's keeps UTC and the registry ids.
BATCHES = _Table("batches", "mes_batches", "shenzhen", "batch", "done", UTC, lambda eq: eq)


def write_mes(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    rel = "mes/mes.sqlite"
    (out / "mes").mkdir()
    tables = ((WORK_ORDERS, plan.work_orders), (BATCHES, plan.batches))
    columns: dict[str, list[str]] = {}
    con = sqlite3.connect(out / rel)
    try:
        con.executescript(
            """
            CREATE TABLE work_orders (wo_no TEXT PRIMARY KEY, equipment TEXT, product TEXT,
                lot_no TEXT, plan_qty INTEGER, good_qty INTEGER, scrap_qty INTEGER, status TEXT,
                start_time TEXT, end_time TEXT);
            CREATE TABLE batches (batch_no TEXT PRIMARY KEY, machine_id TEXT, product TEXT,
                lot TEXT, qty_planned INTEGER, qty_good INTEGER, qty_scrap INTEGER, state TEXT,
                started_at TEXT, finished_at TEXT);
            """
        )
        for table, orders in tables:
            names = [row[1] for row in con.execute(f"PRAGMA table_info({table.name})")]
            columns[table.name] = names
            marks = ",".join("?" * len(names))
            con.executemany(f"INSERT INTO {table.name} VALUES ({marks})", table.rows(orders))
        con.commit()
    finally:
        con.close()
    # One dict for both entries, as before: yaml.safe_dump writes it once with an anchor (&id001)
    # and refers to it from the second entry, and sources.yaml keeps its bytes.
    time = {"format": TIME_FORMAT}
    written = []
    for table, orders in tables:
        tally = tally_for("production")
        tally.add_file(rel, len(orders))
        written.append((table.entry(rel, columns[table.name], time), tally))
    return written
