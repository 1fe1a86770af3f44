"""``mes_work_orders`` and ``mes_batches``: both sites' production events in one MES SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from corpusmill.generate.plant import MACHINE, SHANGHAI, Plan
from corpusmill.generate.truth import Written, tally_for


def write_mes(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    rel = "mes/mes.sqlite"
    (out / "mes").mkdir()
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
        # Suzhou's MES keeps local wall-clock time and its own machine codes.
        con.executemany(
            "INSERT INTO work_orders VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(o.id, MACHINE[o.equipment].aliases[1], o.product, o.lot, o.planned, o.good, o.scrap,
              "完工", f"{o.start.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}",
              f"{o.end.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}") for o in plan.work_orders],
        )  # fmt: skip
        # Shenzhen's keeps UTC and the registry ids.
        con.executemany(
            "INSERT INTO batches VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(o.id, o.equipment, o.product, o.lot, o.planned, o.good, o.scrap, "done",
              f"{o.start:%Y-%m-%d %H:%M:%S}", f"{o.end:%Y-%m-%d %H:%M:%S}")
             for o in plan.batches],
        )  # fmt: skip
        con.commit()
    finally:
        con.close()
    wo, batches = tally_for("production"), tally_for("production")
    wo.add_file(rel, len(plan.work_orders))
    batches.add_file(rel, len(plan.batches))
    time = {"format": "%Y-%m-%d %H:%M:%S"}
    return [
        ({
            "name": "mes_work_orders", "site": "suzhou", "kind": "production", "path": rel,
            "format": "sqlite",
            "read": {"query": "SELECT wo_no, equipment, product, lot_no, plan_qty, good_qty, "
                              "scrap_qty, status, start_time, end_time FROM work_orders "
                              "ORDER BY wo_no"},
            "fields": {"event_id": "wo_no", "equipment_id": "equipment", "product": "product",
                       "lot_id": "lot_no", "start_utc": "start_time", "end_utc": "end_time",
                       "quantity_planned": "plan_qty", "quantity_good": "good_qty",
                       "quantity_scrap": "scrap_qty", "status": "status"},
            "constants": {"event_type": "work_order"},
            "time": time,
        }, wo),
        ({
            "name": "mes_batches", "site": "shenzhen", "kind": "production", "path": rel,
            "format": "sqlite",
            "read": {"query": "SELECT batch_no, machine_id, product, lot, qty_planned, qty_good, "
                              "qty_scrap, state, started_at, finished_at FROM batches "
                              "ORDER BY batch_no"},
            "fields": {"event_id": "batch_no", "equipment_id": "machine_id", "product": "product",
                       "lot_id": "lot", "start_utc": "started_at", "end_utc": "finished_at",
                       "quantity_planned": "qty_planned", "quantity_good": "qty_good",
                       "quantity_scrap": "qty_scrap", "status": "state"},
            "constants": {"event_type": "batch"},
            "time": time,
        }, batches),
    ]  # fmt: skip
