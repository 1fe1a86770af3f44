"""The sample factory: a seeded, deliberately fragmented plant to run the pipeline on.

:func:`generate` writes two sites into a folder, the way their systems would export them:

- ``shenzhen`` (modern, UTC): a clean Parquet historian, MES batches, inspection images, tickets.
- ``suzhou`` (traditional, Asia/Shanghai): GB18030 SCADA CSVs with Chinese headers, °F and psi,
  three spellings per machine and a truncated last file; a wide data-logger CSV with a BOM and
  US-style timestamps; an Excel lab workbook whose first sheet is a decoy; MES work orders in
  local time; CMMS maintenance logs in Chinese and English with planted personal data.

Next to the data it writes ``sources.yaml`` (which :func:`corpusmill.config.load` accepts) and
``ground_truth.json``: per source and per file the units delivered, the units the canonical table
should keep, and the units that must be quarantined, by check code. The counts are exact: every
defect sits on its own row, and ``units_in == kept + sum(quarantined)`` for every source.

Where each defect is meant to be caught (the ``check`` codes are the contract with ingest and
quality):

- ingest: ``non_numeric`` (a historian status string in a numeric cell), ``bad_timestamp``,
  ``ragged_row`` (too many or too few fields, including the cut-off last line of the last
  ``traditional_historian`` file), ``unknown_equipment`` (an alias the registry lacks);
- standardize: ``duplicate`` (a later exact copy of a clean row in the same file);
- validate: ``expect_column_values_to_not_be_null`` (an empty value cell) and
  ``expect_column_values_to_be_between`` (a temperature or pressure outside the physical range
  after conversion to SI: K in [173.15, 1273.15], Pa in [0, 1e8]).

``quality_lab`` has ``QUALITY_BLANKS`` blank measurements per unit of scale; the quality suite
only warns about them, so they are kept, not quarantined.

``wide_historian`` counts in cells: a non-numeric or out-of-range cell is one unit, a row with a bad
timestamp, a ragged row or a duplicate row is all of its tag cells.

Duplicate files: the exact duplicate manual is the same text re-saved on Windows (UTF-8 BOM, CRLF),
so ingest keeps both files and the text corpus finds the duplicate; the near duplicate changes a
few words. The duplicate image is byte-identical under another name: ingest reads identical bytes
of one source once (a re-delivery), so that file is left out of the source's ``files`` and units,
and ``images`` counts the files on disk (``count``) and the copies among them (``duplicates``).

``pii`` counts the planted names, phone numbers, e-mails and ID-card numbers over
``maintenance_logs`` (description and action) and ``service_tickets`` (body); nothing else holds
personal data.

Same seed and scale give byte-identical files: nothing reads the clock.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import random
import re
import shutil
import sqlite3
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(2024, 3, 5)
DAYS_PER_SCALE = 3
STEP = timedelta(minutes=5)
#: The only timestamp written into file metadata (xlsx document properties and zip entries).
FIXED_STAMP = datetime(2024, 4, 1)

# Check codes: the contract with ingest (first four), standardize and the GX suites.
NON_NUMERIC = "non_numeric"
BAD_TIMESTAMP = "bad_timestamp"
RAGGED_ROW = "ragged_row"
UNKNOWN_EQUIPMENT = "unknown_equipment"
DUPLICATE = "duplicate"
NOT_NULL = "expect_column_values_to_not_be_null"
BETWEEN = "expect_column_values_to_be_between"

#: Defects per unit of scale, by source. ``ragged_row`` in traditional_historian gets one more:
#: the truncated last line.
TRADITIONAL_DEFECTS = {
    NON_NUMERIC: 6, BAD_TIMESTAMP: 3, RAGGED_ROW: 3, UNKNOWN_EQUIPMENT: 4,
    DUPLICATE: 5, NOT_NULL: 3, BETWEEN: 4,
}  # fmt: skip
WIDE_DEFECTS = {NON_NUMERIC: 5, BAD_TIMESTAMP: 1, RAGGED_ROW: 2, DUPLICATE: 2, BETWEEN: 3}
#: Blank measurements in the lab workbook, per unit of scale. The quality_inspections suite only
#: warns about a null value (an attribute inspection may carry only a result), so they are kept.
QUALITY_BLANKS = 2
#: Wide-file checks that take out a whole row (all its tag cells).
ROW_CHECKS = frozenset({BAD_TIMESTAMP, RAGGED_ROW, DUPLICATE})

STATUS_STRINGS = ("Bad", "Scan Timeout", "Inp OutRange", "Comm Fail")
UNKNOWN_ALIASES = ("3号机床", "CNC-03", "4号机床")

Row = list[str]
Progress = Callable[[str], None]


# -- the plant ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    id: str
    name: str
    type: str
    aliases: tuple[str, ...]
    faults: tuple[str, ...]

    @property
    def site(self) -> str:
        return self.id.split("/")[0]


CNC1 = "suzhou/machining/line1/cnc-01"
CNC2 = "suzhou/machining/line1/cnc-02"
FURNACE = "suzhou/heat/line1/furnace-01"
PRESS = "shenzhen/assembly/line2/press-01"
ROBOT = "shenzhen/assembly/line2/robot-01"
IMM = "shenzhen/molding/line1/imm-01"

MACHINES = (
    Machine(CNC1, "CK6150 数控车床 1", "cnc_lathe", ("1号机床", "CNC-01", "cnc_1", "CNC01"),
            ("spindle_overheat", "hydraulic_leak")),
    Machine(CNC2, "CK6150 数控车床 2", "cnc_lathe", ("2号机床", "CNC-02", "cnc_2", "CNC02"),
            ("spindle_overheat", "hydraulic_leak")),
    Machine(FURNACE, "网带式热处理炉 1", "heat_treatment_furnace", ("1号炉", "FURNACE-01", "FURNACE01"),
            ("furnace_overtemp",)),
    Machine(PRESS, "HP-200 hydraulic press", "hydraulic_press", ("PRESS-01",),
            ("press_pressure_loss",)),
    Machine(ROBOT, "Assembly robot 1", "robot", ("ROBOT-01",), ("robot_joint_wear",)),
    Machine(IMM, "IMM-350 injection moulding machine", "injection_moulding", ("IMM-01",),
            ("heater_band_failure",)),
)  # fmt: skip
MACHINE = {m.id: m for m in MACHINES}
#: How the SCADA CSVs spell each machine: a random pick per row.
SCADA_ALIASES = {
    CNC1: ("1号机床", "CNC-01", "cnc_1"),
    CNC2: ("2号机床", "CNC-02", "cnc_2"),
    FURNACE: ("1号炉", "FURNACE-01"),
}


@dataclass(frozen=True)
class Signal:
    equipment: str
    name: str  # canonical signal name
    label: str  # how the source writes it: 位号, tag column, or signal
    unit: str  # how the source writes the unit
    base: float
    noise: float
    swing: float = 0.0  # amplitude of the daily cycle
    decimals: int = 1


TRADITIONAL_SIGNALS = (
    Signal(CNC1, "spindle_temperature", "主轴温度", "°F", 108, 1.2, 4),
    Signal(CNC1, "hydraulic_pressure", "液压压力", "psi", 1000, 10),
    Signal(CNC2, "spindle_temperature", "主轴温度", "°F", 104, 1.2, 4),
    Signal(CNC2, "hydraulic_pressure", "液压压力", "psi", 980, 10),
    Signal(FURNACE, "furnace_temperature", "炉温", "°F", 1550, 5),
    Signal(FURNACE, "cooling_water_pressure", "冷却水压力", "psi", 45, 0.6, 1.5),
)


def _wide_signals() -> tuple[Signal, ...]:
    out: list[Signal] = []
    for eq, tag in ((CNC1, "CNC01"), (CNC2, "CNC02")):
        out += [
            Signal(eq, "coolant_temperature", f"{tag}.CoolantTemp_F", "degF", 68, 0.6, 3, 2),
            Signal(eq, "coolant_pressure", f"{tag}.CoolantPressure_psi", "psi", 60, 0.8, 0, 2),
            Signal(eq, "spindle_speed", f"{tag}.SpindleSpeed_rpm", "rpm", 2400, 12, 0, 1),
            Signal(eq, "vibration", f"{tag}.Vibration_mmps", "mm/s", 1.8, 0.08, 0, 3),
        ]
    out += [
        Signal(FURNACE, "zone1_temperature", "FURNACE01.ZoneTemp1_F", "degF", 1545, 4, 0, 1),
        Signal(FURNACE, "zone2_temperature", "FURNACE01.ZoneTemp2_F", "degF", 1555, 4, 0, 1),
        Signal(FURNACE, "atmosphere_pressure", "FURNACE01.AtmospherePressure_psi", "psi",
               14.9, 0.03, 0, 3),
        Signal(FURNACE, "heating_power", "FURNACE01.Power_kW", "kW", 85, 1.5, 0, 2),
    ]  # fmt: skip
    return tuple(out)


WIDE_SIGNALS = _wide_signals()
WIDE_TIME_COLUMN = "Timestamp"
WIDE_TAG_PATTERN = r"^(?P<equipment>[A-Z0-9]+)\.(?P<signal>[A-Za-z0-9]+)_[A-Za-z]+$"

MODERN_SIGNALS = (
    Signal(PRESS, "hydraulic_pressure", "hydraulic_pressure", "Pa", 1.5e7, 1.2e5, 0, 0),
    Signal(PRESS, "ram_force", "ram_force", "N", 1.6e6, 1.5e4, 0, 0),
    Signal(PRESS, "oil_temperature", "oil_temperature", "K", 318, 0.5, 3, 2),
    Signal(ROBOT, "joint_temperature", "joint_temperature", "K", 313, 0.4, 2, 2),
    Signal(ROBOT, "motor_power", "motor_power", "W", 850, 20, 40, 1),
    Signal(ROBOT, "joint_speed", "joint_speed", "rad/s", 1.2, 0.04, 0, 3),
    Signal(IMM, "barrel_temperature", "barrel_temperature", "K", 518, 0.7, 0, 2),
    Signal(IMM, "injection_pressure", "injection_pressure", "Pa", 1.2e7, 1.0e5, 0, 0),
    Signal(IMM, "screw_speed", "screw_speed", "rad/s", 10.5, 0.15, 0, 3),
)

#: How a fault moves each affected signal, in the unit its source writes (ramps up to the failure,
#: holds until the repair is done). None of these leave the physical range.
FAULT_EFFECTS: dict[str, dict[str, float]] = {
    "spindle_overheat": {"spindle_temperature": 38, "vibration": 2.5, "coolant_temperature": 9},
    "hydraulic_leak": {"hydraulic_pressure": -260, "coolant_pressure": -4},
    "furnace_overtemp": {"furnace_temperature": 55, "zone1_temperature": 60,
                         "zone2_temperature": 20, "heating_power": -6},
    "press_pressure_loss": {"hydraulic_pressure": -3.5e6, "ram_force": -3e5,
                            "oil_temperature": 6},
    "heater_band_failure": {"barrel_temperature": -28, "injection_pressure": 1.5e6},
    "robot_joint_wear": {"motor_power": 260, "joint_temperature": 9},
}  # fmt: skip


@dataclass(frozen=True)
class Failure:
    equipment: str
    mode: str
    onset: datetime  # UTC: the signals start to drift
    failed: datetime  # UTC: the breakdown is reported
    repaired: datetime  # UTC: the repair is complete


@dataclass(frozen=True)
class Order:
    """A Suzhou work order or a Shenzhen batch: one lot on one machine."""

    id: str
    equipment: str
    product: str
    lot: str
    start: datetime  # UTC
    end: datetime  # UTC
    planned: int
    good: int
    scrap: int


@dataclass(frozen=True)
class Plan:
    """What happens in the plant; every writer renders its own export of it."""

    seed: int
    scale: int
    days: int
    failures: tuple[Failure, ...]
    work_orders: tuple[Order, ...]
    batches: tuple[Order, ...]

    def affected(self, equipment: str, start: datetime, end: datetime, modes: set[str]) -> bool:
        return any(
            f.equipment == equipment and f.mode in modes and f.onset < end and f.repaired > start
            for f in self.failures
        )


def _rng(seed: int, part: str) -> random.Random:
    """An independent stream per writer, so that one writer's draws do not shift another's."""
    return random.Random(f"corpusmill:{seed}:{part}")


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def _local_midnight(day: int) -> datetime:
    return datetime.combine(FIRST_DAY + timedelta(days=day), datetime.min.time(), SHANGHAI)


def _utc_midnight(day: int) -> datetime:
    return datetime.combine(FIRST_DAY + timedelta(days=day), datetime.min.time(), UTC)


def _plan(seed: int, scale: int) -> Plan:
    """One breakdown per site and day, taking each site's machines in a shuffled turn."""
    rng = _rng(seed, "plan")
    days = DAYS_PER_SCALE * scale
    turns = {}
    for site in ("suzhou", "shenzhen"):
        turns[site] = [m for m in MACHINES if m.site == site]
        rng.shuffle(turns[site])
    failures = []
    for day in range(days):
        for site, midnight in (("suzhou", _local_midnight(day)), ("shenzhen", _utc_midnight(day))):
            machine = turns[site][day % len(turns[site])]
            failed = (midnight + _minutes(rng.randint(6 * 60, 20 * 60))).astimezone(UTC)
            failures.append(
                Failure(
                    machine.id,
                    rng.choice(machine.faults),
                    onset=failed - _minutes(rng.randint(90, 180)),
                    failed=failed,
                    repaired=failed + _minutes(rng.randint(90, 240)),
                )
            )
    plan = Plan(seed, scale, days, tuple(failures), work_orders=(), batches=())
    return replace(plan, work_orders=_work_orders(plan, rng), batches=_batches(plan, rng))


def _orders(
    plan: Plan,
    rng: random.Random,
    *,
    products: Mapping[str, tuple[str, str, int]],
    midnight: Callable[[int], datetime],
    shifts: tuple[tuple[int, int, str], ...],
    number: Callable[[datetime, int, str, str], tuple[str, str]],
) -> tuple[Order, ...]:
    out = []
    for day in range(plan.days):
        seq = 0
        for start_h, hours, shift in shifts:
            for eq, (product, code, planned) in products.items():
                seq += 1
                start = midnight(day) + timedelta(hours=start_h)
                end = start + timedelta(hours=hours)
                start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
                broke = plan.affected(eq, start_utc, end_utc, set(MACHINE[eq].faults))
                scrap = rng.randint(0, 4) + (rng.randint(8, 20) if broke else 0)
                good = planned - scrap - rng.randint(0, 6)
                oid, lot = number(start, seq, code, shift)
                out.append(Order(oid, eq, product, lot, start_utc, end_utc, planned, good, scrap))
    return tuple(out)


def _work_orders(plan: Plan, rng: random.Random) -> tuple[Order, ...]:
    products = {
        CNC1: ("SHAFT-A12", "C1", 240),
        CNC2: ("BUSHING-B07", "C2", 260),
        FURNACE: ("HT-SHAFT-A12", "F1", 600),
    }
    return _orders(
        plan, rng, products=products, midnight=_local_midnight,
        shifts=((8, 12, "D"), (20, 12, "N")),
        number=lambda t, seq, code, shift: (
            f"WO{t:%y%m%d}{seq:02d}", f"L{t:%y%m%d}-{code}{shift}"
        ),
    )  # fmt: skip


def _batches(plan: Plan, rng: random.Random) -> tuple[Order, ...]:
    products = {IMM: ("HOUSING-P3", "I1", 480), PRESS: ("BRACKET-S5", "P1", 900)}
    return _orders(
        plan, rng, products=products, midnight=_utc_midnight,
        shifts=tuple((h, 4, str(h // 4 + 1)) for h in range(0, 24, 4)),
        number=lambda t, seq, code, shift: (
            f"B{t:%y%m%d}-{seq:02d}", f"SZ{t:%y%m%d}-{code}-{shift}"
        ),
    )  # fmt: skip


def _reading(sig: Signal, t: datetime, plan: Plan, rng: random.Random) -> float:
    """One sample: baseline, daily cycle, noise, and the drift of any fault under way."""
    minutes = t.hour * 60 + t.minute
    value = sig.base + sig.swing * math.sin(2 * math.pi * minutes / 1440) + rng.gauss(0, sig.noise)
    for f in plan.failures:
        delta = FAULT_EFFECTS[f.mode].get(sig.name)
        if f.equipment != sig.equipment or delta is None:
            continue
        if f.onset <= t < f.failed:
            value += delta * (t - f.onset) / (f.failed - f.onset)
        elif f.failed <= t < f.repaired:
            value += delta
    return round(value, sig.decimals)


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _day_stamps(midnight: datetime) -> list[datetime]:
    return [midnight + i * STEP for i in range(int(timedelta(days=1) / STEP))]


# -- ground truth and defects ------------------------------------------------------------------


@dataclass
class Tally:
    """Ground truth of one source, filled in as its files are written."""

    kind: str
    table: str
    unit: str = "rows"
    files: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantined: Counter[str] = field(default_factory=Counter)

    def add_file(self, rel: str, rows: int, units: int | None = None) -> None:
        self.files[rel] = {"rows": rows, "units_in": rows if units is None else units}

    def as_dict(self) -> dict[str, Any]:
        units_in = sum(f["units_in"] for f in self.files.values())
        quarantined = {k: v for k, v in sorted(self.quarantined.items()) if v}
        return {
            "kind": self.kind,
            "table": self.table,
            "unit": self.unit,
            "files": dict(sorted(self.files.items())),
            "units_in": units_in,
            "kept": units_in - sum(quarantined.values()),
            "quarantined": quarantined,
        }


def _tally(kind: str, unit: str = "rows") -> Tally:
    from corpusmill.canonical import KIND_TABLE

    return Tally(kind, KIND_TABLE[kind], unit)


def _spread(plan: Mapping[str, int], n_files: int, rng: random.Random) -> list[Counter[str]]:
    """Deal each defect of a source's plan to a random file."""
    parts: list[Counter[str]] = [Counter() for _ in range(n_files)]
    for check in sorted(plan):
        for _ in range(plan[check]):
            parts[rng.randrange(n_files)][check] += 1
    return parts


def _inject(
    rows: list[Row],
    plan: Mapping[str, int],
    mutate: Callable[[str, Row, random.Random], Row],
    rng: random.Random,
    *,
    protect: int = 0,
) -> None:
    """Inject the defects of ``plan`` into distinct clean rows of one file, in place.

    Every check but ``duplicate`` rewrites one row with ``mutate(check, row, rng)``; ``duplicate``
    inserts an exact copy of a clean row somewhere after it. The last ``protect`` rows stay as
    they are (the truncated tail of a file stays last).
    """
    edits = [check for check in sorted(plan) if check != DUPLICATE for _ in range(plan[check])]
    n_dup = plan.get(DUPLICATE, 0)
    picked = rng.sample(range(len(rows) - protect), len(edits) + n_dup)
    for check, i in zip(edits, picked, strict=False):
        rows[i] = mutate(check, list(rows[i]), rng)
    for i in sorted(picked[len(edits) :], reverse=True):
        rows.insert(rng.randint(i + 1, len(rows) - protect), list(rows[i]))


def _scaled(plan: Mapping[str, int], scale: int) -> dict[str, int]:
    return {check: n * scale for check, n in plan.items()}


# -- writers: one per source -------------------------------------------------------------------

Written = tuple[dict[str, Any], Tally]


def _write_modern_historian(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    import polars as pl

    rng = _rng(plan.seed, "modern_historian")
    tally = _tally("sensor")
    folder = out / "modern" / "historian"
    folder.mkdir(parents=True)
    for day in range(plan.days):
        stamps = _day_stamps(_utc_midnight(day))
        cols: dict[str, list[Any]] = {k: [] for k in ("ts", "equipment_id", "signal", "value")}
        for t in stamps:
            for sig in MODERN_SIGNALS:
                cols["ts"].append(t)
                cols["equipment_id"].append(sig.equipment)
                cols["signal"].append(sig.name)
                cols["value"].append(_reading(sig, t, plan, rng))
        units = {s.name: s.unit for s in MODERN_SIGNALS}
        df = pl.DataFrame(cols, schema={"ts": pl.Datetime("us", "UTC"), "equipment_id": pl.String,
                                        "signal": pl.String, "value": pl.Float64})  # fmt: skip
        df = df.with_columns(
            unit=pl.col("signal").replace_strict(units, return_dtype=pl.String),
            quality=pl.lit("Good"),
        )
        rel = f"modern/historian/historian_{stamps[0]:%Y-%m-%d}.parquet"
        df.write_parquet(out / rel)
        tally.add_file(rel, df.height)
    source = {
        "name": "modern_historian",
        "site": "shenzhen",
        "kind": "sensor",
        "path": "modern/historian/*.parquet",
        "format": "parquet",
        "fields": {"ts_utc": "ts", "equipment_id": "equipment_id", "signal": "signal",
                   "value": "value", "unit": "unit", "quality": "quality"},
    }  # fmt: skip
    return [(source, tally)]


TRADITIONAL_HEADER = ["时间", "设备", "位号", "数值", "单位", "状态"]
TRADITIONAL_BAD_TIMES = ("2024/13/45 99:00:00", "2024/02/30 25:61:00", "0000/00/00 00:00:00")


def _mutate_scada(check: str, row: Row, rng: random.Random) -> Row:
    """A defect in one row of the SCADA CSV (时间,设备,位号,数值,单位,状态)."""
    if check == NON_NUMERIC:
        row[3], row[5] = rng.choice(STATUS_STRINGS), "Bad"
    elif check == BAD_TIMESTAMP:
        row[0] = rng.choice(TRADITIONAL_BAD_TIMES)
    elif check == RAGGED_ROW:
        if rng.random() < 0.5:
            row[3:4] = row[3].split(".")  # a decimal comma: one field too many
        else:
            del row[4]  # the unit is missing: one field too few
    elif check == UNKNOWN_EQUIPMENT:
        row[1] = rng.choice(UNKNOWN_ALIASES)
    elif check == NOT_NULL:
        row[3] = ""
    elif check == BETWEEN:
        hot, negative = ("5000.0", "9999.9"), ("-50.0", "-14.7")
        row[3] = rng.choice(hot if row[4] == "°F" else negative)
    else:
        raise ValueError(f"no way to inject {check!r} into the SCADA CSV")
    return row


def _truncate(line: str, rng: random.Random) -> str:
    """Cut a CSV line inside its third field, as a copy interrupted mid-write leaves it."""
    third = line.index(",", line.index(",") + 1) + 1
    end = line.index(",", third)
    return line[: rng.randint(third + 1, end - 1)]


def _write_traditional_historian(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    rng = _rng(plan.seed, "traditional_historian")
    tally = _tally("sensor")
    defects = _scaled(TRADITIONAL_DEFECTS, plan.scale)
    per_file = _spread(defects, plan.days, rng)
    folder = out / "traditional" / "historian"
    folder.mkdir(parents=True)
    for day in range(plan.days):
        last = day == plan.days - 1
        rows = [
            [f"{t:%Y/%m/%d %H:%M:%S}", rng.choice(SCADA_ALIASES[sig.equipment]), sig.label,
             _fmt(_reading(sig, t.astimezone(UTC), plan, rng), sig.decimals), sig.unit, "Good"]
            for t in _day_stamps(_local_midnight(day))
            for sig in TRADITIONAL_SIGNALS
        ]  # fmt: skip
        _inject(rows, per_file[day], _mutate_scada, rng, protect=1 if last else 0)
        lines = [",".join(TRADITIONAL_HEADER)] + [",".join(r) for r in rows]
        if last:
            lines[-1] = _truncate(lines[-1], rng)
            per_file[day][RAGGED_ROW] += 1
        text = "\r\n".join(lines) + ("" if last else "\r\n")
        rel = f"traditional/historian/SCADA_{_local_midnight(day):%Y%m%d}.csv"
        (out / rel).write_bytes(text.encode("gb18030"))
        tally.add_file(rel, len(rows))
        tally.quarantined.update(per_file[day])
    source = {
        "name": "traditional_historian",
        "site": "suzhou",
        "kind": "sensor",
        "path": "traditional/historian/*.csv",
        "format": "csv",
        # No encoding here on purpose: these files are GB18030 and ingest has to find that out.
        "read": {"delimiter": ","},
        "fields": dict(zip(["ts_utc", "equipment_id", "signal", "value", "unit", "quality"],
                           TRADITIONAL_HEADER, strict=True)),
        "signals": {s.label: s.name for s in TRADITIONAL_SIGNALS},
        "time": {"format": "%Y/%m/%d %H:%M:%S"},
    }  # fmt: skip
    return [(source, tally)]


WIDE_BAD_TIMES = ("13/45/2024 99:00:00 PM", "00/00/0000 00:00:00 AM")


def _mutate_wide(check: str, row: Row, rng: random.Random) -> Row:
    """A defect in one row of the wide data-logger CSV (time, then one column per tag)."""
    if check == NON_NUMERIC:
        row[rng.randrange(1, len(row))] = rng.choice(STATUS_STRINGS)
    elif check == BAD_TIMESTAMP:
        row[0] = rng.choice(WIDE_BAD_TIMES)
    elif check == RAGGED_ROW:
        if rng.random() < 0.5:
            row.append("")  # a trailing comma
        else:
            row.pop()
    elif check == BETWEEN:
        col = rng.choice([i for i, s in enumerate(WIDE_SIGNALS, 1) if s.unit in ("degF", "psi")])
        row[col] = "5000.0" if WIDE_SIGNALS[col - 1].unit == "degF" else "-50.0"
    else:
        raise ValueError(f"no way to inject {check!r} into the wide CSV")
    return row


def _write_wide_historian(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    rng = _rng(plan.seed, "wide_historian")
    n_tags = len(WIDE_SIGNALS)
    tally = _tally("sensor", unit="cells")
    per_file = _spread(_scaled(WIDE_DEFECTS, plan.scale), plan.days, rng)
    folder = out / "traditional" / "datalogger"
    folder.mkdir(parents=True)
    for day in range(plan.days):
        rows = []
        for t in _day_stamps(_local_midnight(day)):
            t_utc = t.astimezone(UTC)
            rows.append([f"{t:%m/%d/%Y %I:%M:%S %p}"] + [
                _fmt(_reading(s, t_utc, plan, rng), s.decimals) for s in WIDE_SIGNALS
            ])  # fmt: skip
        _inject(rows, per_file[day], _mutate_wide, rng)
        lines = [",".join([WIDE_TIME_COLUMN] + [s.label for s in WIDE_SIGNALS])]
        lines += [",".join(r) for r in rows]
        rel = f"traditional/datalogger/DL_{_local_midnight(day):%Y%m%d}.csv"
        (out / rel).write_bytes("\r\n".join(lines).encode("utf-8-sig") + b"\r\n")
        tally.add_file(rel, len(rows), len(rows) * n_tags)
        for check, n in per_file[day].items():
            tally.quarantined[check] += n * (n_tags if check in ROW_CHECKS else 1)
    signal_names = {}
    for s in WIDE_SIGNALS:
        match = re.match(WIDE_TAG_PATTERN, s.label)
        assert match is not None, s.label
        signal_names[match["signal"]] = s.name
    source = {
        "name": "wide_historian",
        "site": "suzhou",
        "kind": "sensor",
        "path": "traditional/datalogger/*.csv",
        "format": "csv",
        "read": {"delimiter": ","},
        "shape": "wide",
        "signals": signal_names,
        "time": {"format": "%m/%d/%Y %I:%M:%S %p"},
        "wide": {
            "time_column": WIDE_TIME_COLUMN,
            "equipment_from_tag": WIDE_TAG_PATTERN,
            "tags": {s.label: {"signal": s.name, "unit": s.unit} for s in WIDE_SIGNALS},
        },
    }
    return [(source, tally)]


QUALITY_HEADER = ["检验单号", "检验时间", "设备", "批号", "检验项目", "测量值", "下限", "上限",
                  "判定", "结果代码", "缺陷代码"]  # fmt: skip
#: characteristic -> (nominal mm, tolerance mm, defect code, how far a hot spindle pushes it)
CHARACTERISTICS = {
    "外径": (25.000, 0.020, "D01 外径超差", 0.016),
    "长度": (120.00, 0.100, "D02 长度超差", 0.0),
    "孔径": (12.000, 0.015, "D03 孔径超差", 0.010),
}


def _quality_rows(plan: Plan, rng: random.Random) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for wo in plan.work_orders:
        if wo.equipment == FURNACE:
            continue
        hot = plan.affected(wo.equipment, wo.start, wo.end, {"spindle_overheat"})
        ts = (wo.end + timedelta(minutes=rng.randint(20, 60))).astimezone(SHANGHAI)
        alias = rng.choice(SCADA_ALIASES[wo.equipment][:2])
        for name, (nominal, tol, code, drift) in CHARACTERISTICS.items():
            for _ in range(3):
                value = round(nominal + rng.gauss(0, tol / 3) + (drift if hot else 0), 3)
                ok = nominal - tol <= value <= nominal + tol
                rows.append([
                    f"QC{ts:%y%m%d}{len(rows) + 1:05d}", ts.replace(tzinfo=None), alias, wo.lot,
                    name, value, round(nominal - tol, 3), round(nominal + tol, 3),
                    "合格" if ok else "不合格", "pass" if ok else "fail", None if ok else code,
                ])  # fmt: skip
    return rows


def _write_quality_lab(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    from openpyxl import Workbook

    rng = _rng(plan.seed, "quality_lab")
    rows = _quality_rows(plan, rng)
    passing = [i for i, r in enumerate(rows) if r[9] == "pass"]
    for i in rng.sample(passing, QUALITY_BLANKS * plan.scale):  # not on a failing row
        rows[i][5] = None  # the measurement never made it from the gauge to the sheet
    wb = Workbook()
    notes = wb.active
    notes.title = "说明"
    for line in ("本工作簿由质量检验系统导出。", "检验记录见工作表“检验记录”；单位：mm。",
                 "判定：合格 / 不合格；结果代码：pass / fail。"):  # fmt: skip
        notes.append([line])
    sheet = wb.create_sheet("检验记录")
    sheet.append(["苏州工厂 质量检验记录（导出）"])
    sheet.append(QUALITY_HEADER)
    for row in rows:
        sheet.append(row)
        sheet.cell(sheet.max_row, 2).number_format = "yyyy-mm-dd hh:mm"
    rel = "quality/lab_results.xlsx"
    (out / "quality").mkdir()
    _save_xlsx(wb, out / rel)
    tally = _tally("quality")
    tally.add_file(rel, len(rows))
    source = {
        "name": "quality_lab",
        "site": "suzhou",
        "kind": "quality",
        "path": rel,
        "format": "excel",
        # The first sheet is a note for people; the data starts under a title row.
        "read": {"sheet": "检验记录", "skip_rows": 1},
        "fields": {"inspection_id": "检验单号", "ts_utc": "检验时间", "equipment_id": "设备",
                   "lot_id": "批号", "characteristic": "检验项目", "value": "测量值",
                   "lsl": "下限", "usl": "上限", "result": "结果代码", "defect_code": "缺陷代码"},
        "units": {"value": "mm", "lsl": "mm", "usl": "mm"},
    }  # fmt: skip
    return [(source, tally)]


def _save_xlsx(wb: Any, path: Path) -> None:
    """Save a workbook with fixed document dates and zip entry times (openpyxl stamps now())."""
    wb.properties.creator = "QMS export"
    wb.properties.created = FIXED_STAMP
    buf = io.BytesIO()
    wb.save(buf)
    stamp = f"{FIXED_STAMP:%Y-%m-%dT%H:%M:%SZ}".encode()
    result = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp,
                              body)  # fmt: skip
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_STAMP.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            dst.writestr(entry, body)
    path.write_bytes(result.getvalue())


def _write_mes(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
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
    wo, batches = _tally("production"), _tally("production")
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


class PiiPlanter:
    """Plants personal data into free text and counts every piece it plants."""

    REGIONS = ("320505", "320506", "320583", "440304", "440305")
    WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

    def __init__(self, bank: dict[str, Any], rng: random.Random) -> None:
        self.bank, self.rng = bank, rng
        self.counts: Counter[str] = Counter(names=0, phones=0, emails=0, id_cards=0)

    def name(self, lang: str, cue: int) -> str:
        self.counts["names"] += 1
        who = self.rng.choice(self.bank["names"][lang])
        return self.bank["name_cues"][lang][cue].format(name=who)

    def phone(self) -> str:
        self.counts["phones"] += 1
        number = "1" + self.rng.choice("3456789") + "".join(self.rng.choices("0123456789", k=9))
        return self.rng.choice(("{}", "+86 {}", "+86-{}")).format(number)

    def email(self) -> str:
        self.counts["emails"] += 1
        box = self.rng.choice(("maint", "service", "shift", "qa"))
        return f"{box}{self.rng.randint(1, 99):02d}@{self.rng.choice(self.bank['email_domains'])}"

    def id_card(self) -> str:
        """A Chinese resident ID number (GB 11643) with a valid check digit."""
        self.counts["id_cards"] += 1
        born = date(1970, 1, 1) + timedelta(days=self.rng.randrange(365 * 30))
        body = f"{self.rng.choice(self.REGIONS)}{born:%Y%m%d}{self.rng.randint(0, 999):03d}"
        total = sum(int(d) * w for d, w in zip(body, self.WEIGHTS, strict=True))
        return body + "10X98765432"[total % 11]

    def contact(self, lang: str, cue: int, *, phone: bool, email: bool, id_card: bool) -> str:
        """A clause naming one person, with the contact details asked for."""
        sep = "，" if lang == "zh" else ", "
        parts = [self.name(lang, cue)]
        labels = {"zh": ("电话：", "邮箱：", "身份证号："), "en": ("phone ", "email ", "ID no. ")}[lang]
        if phone:
            parts.append(labels[0] + self.phone())
        if email:
            parts.append(labels[1] + self.email())
        if id_card:
            parts.append(labels[2] + self.id_card())
        return sep.join(parts)


def _pick(rng: random.Random, items: list[int], share: float, at_least: int = 1) -> set[int]:
    k = min(len(items), max(at_least, round(share * len(items))))
    return set(rng.sample(items, k))


@dataclass
class _Job:
    equipment: str
    kind: str  # corrective | preventive | inspection
    reported: datetime  # UTC
    completed: datetime  # UTC
    texts: tuple[str, str]
    lang: str
    cost: float


def _maintenance_jobs(plan: Plan, bank: dict[str, Any], rng: random.Random) -> list[_Job]:
    jobs = []
    for f in plan.failures:
        suzhou = MACHINE[f.equipment].site == "suzhou"
        lang = rng.choice(("zh", "zh", "en") if suzhou else ("zh", "en", "en"))
        texts = tuple(rng.choice(bank["faults"][f.mode][lang]))
        reported = f.failed + timedelta(minutes=rng.randint(5, 30))
        jobs.append(_Job(f.equipment, "corrective", reported, f.repaired, texts, lang,
                         round(rng.uniform(800, 12000), 2)))  # fmt: skip
    for day in range(plan.days):
        for kind, count, minutes, cost in (("preventive", 3, (60, 180), (200, 1500)),
                                         ("inspection", 4, (15, 45), (0, 0))):  # fmt: skip
            for _ in range(count):
                m = rng.choice(MACHINES)
                lang = rng.choice(("zh", "en"))
                reported = _local_midnight(day) + _minutes(rng.randint(8 * 60, 17 * 60))
                reported = reported.astimezone(UTC)
                jobs.append(_Job(m.id, kind, reported,
                                 reported + _minutes(rng.randint(*minutes)),
                                 tuple(rng.choice(bank[kind][lang])), lang,
                                 round(rng.uniform(*cost), 2)))  # fmt: skip
    jobs.sort(key=lambda j: (j.reported, j.equipment))
    return jobs


def _write_maintenance_logs(
    out: Path, plan: Plan, bank: dict[str, Any], pii: PiiPlanter
) -> list[Written]:
    rng = _rng(plan.seed, "maintenance_logs")
    jobs = _maintenance_jobs(plan, bank, rng)
    idx = list(range(len(jobs)))
    named = sorted(_pick(rng, idx, 0.45))
    phones, emails = _pick(rng, named, 0.4), _pick(rng, named, 0.25)
    ids = _pick(rng, named, 0.12, at_least=2)
    tally = _tally("maintenance")
    (out / "maintenance").mkdir()
    by_day: dict[date, list[dict[str, Any]]] = {}
    for i, job in enumerate(jobs):
        description, action = job.texts
        if i in named:
            in_action = rng.random() < 0.3  # the technician is named in the action instead
            who = pii.contact(job.lang, 1 if in_action else rng.choice((0, 2)),
                              phone=i in phones, email=i in emails, id_card=i in ids)  # fmt: skip
            sep = "；" if job.lang == "zh" else "; "
            if in_action:
                action += sep + who
            else:
                description += sep + who
        m = MACHINE[job.equipment]
        reported = job.reported.astimezone(SHANGHAI)
        day_jobs = by_day.setdefault(reported.date(), [])
        day_jobs.append({
            "wo_id": f"MWO-{reported:%y%m%d}-{len(day_jobs) + 1:03d}",
            "asset": rng.choice(SCADA_ALIASES[m.id]) if m.site == "suzhou" else m.id,
            "type": job.kind,
            "reported_at": f"{reported:%Y-%m-%d %H:%M}",
            "completed_at": f"{job.completed.astimezone(SHANGHAI):%Y-%m-%d %H:%M}",
            "description": description,
            "action": action,
            "cost": job.cost,
        })  # fmt: skip
    for day, records in sorted(by_day.items()):
        rel = f"maintenance/cmms_{day:%Y%m%d}.jsonl"
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        (out / rel).write_text(text, encoding="utf-8", newline="\n")
        tally.add_file(rel, len(records))
    source = {
        "name": "maintenance_logs",
        "site": "suzhou",
        "kind": "maintenance",
        "path": "maintenance/*.jsonl",
        "format": "jsonl",
        "fields": {"record_id": "wo_id", "equipment_id": "asset", "reported_utc": "reported_at",
                   "completed_utc": "completed_at", "maintenance_type": "type",
                   "text": "description", "action": "action", "cost": "cost"},
        "constants": {"currency": "CNY"},
        "time": {"format": "%Y-%m-%d %H:%M"},
    }  # fmt: skip
    return [(source, tally)]


TICKETS_PER_DAY = 4


def _ticket_text(
    bank: dict[str, Any], kind: str, lang: str, batch: Order, rng: random.Random,
    unused: dict[tuple[str, str], list[tuple[int, int, int]]],
) -> tuple[str, str]:
    """Subject and body: an issue, an impact and a request, in a combination not used before."""
    issues, impacts = bank["tickets"][kind][lang], bank["ticket_impacts"][lang]
    requests = bank["ticket_requests"][lang]
    combos = unused.setdefault((kind, lang), [])
    if not combos:  # only once every combination is used (a very large scale) can one repeat
        combos += [(i, j, k) for i in range(len(issues)) for j in range(len(impacts))
                   for k in range(len(requests))]  # fmt: skip
        rng.shuffle(combos)
    i, j, k = combos.pop()
    subject, issue = issues[i]
    qty = rng.randint(50, batch.planned)
    impact = impacts[j].format(qty=qty, bad=rng.randint(3, qty // 3), hours=rng.randint(2, 9),
                               pct=rng.randint(2, 30))  # fmt: skip
    parts = [issue.format(lot=batch.lot), impact, requests[k]]
    return subject, ("" if lang == "zh" else " ").join(parts)


def _write_service_tickets(
    out: Path, plan: Plan, bank: dict[str, Any], pii: PiiPlanter
) -> list[Written]:
    rng = _rng(plan.seed, "service_tickets")
    rows = []
    unused: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for day in range(plan.days):
        minutes = sorted(rng.sample(range(60, 23 * 60), TICKETS_PER_DAY))
        for n, minute in enumerate(minutes, 1):
            created = _utc_midnight(day) + timedelta(minutes=minute)
            batch = rng.choice([b for b in plan.batches if b.end <= created] or plan.batches[:2])
            lang = rng.choice(("en", "en", "zh"))
            kind = "imm" if batch.equipment == IMM else "press"
            subject, body = _ticket_text(bank, kind, lang, batch, rng, unused)
            contact = pii.contact(lang, 2, phone=rng.random() < 0.5, email=rng.random() < 0.6,
                                  id_card=False)  # fmt: skip
            contact = contact + "。" if lang == "zh" else " P" + contact[1:] + "."
            rows.append([f"TK-{created:%y%m%d}-{n:02d}", f"{created:%Y-%m-%d %H:%M:%S}",
                         batch.equipment, batch.product, subject, body + contact,
                         rng.choice(("open", "closed", "closed"))])  # fmt: skip
    rel = "service/tickets.csv"
    (out / "service").mkdir()
    with open(out / rel, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(
            ["ticket_id", "created_at", "asset", "product", "subject", "body", "status"]
        )
        writer.writerows(rows)
    tally = _tally("document")
    tally.add_file(rel, len(rows))
    source = {
        "name": "service_tickets",
        "site": "shenzhen",
        "kind": "document",
        "path": rel,
        "format": "csv",
        "fields": {"doc_id": "ticket_id", "title": "subject", "text": "body",
                   "equipment_id": "asset", "created_utc": "created_at"},
        "constants": {"doc_type": "ticket"},
        "time": {"format": "%Y-%m-%d %H:%M:%S"},
    }  # fmt: skip
    return [(source, tally)]


def _write_documents(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    """Manuals (markdown, with one exact and one near duplicate) and SOPs (plain text)."""
    manuals = {name: body.encode() for name, body in bank["manuals"].items()}
    exact, near = bank["exact_duplicate"], bank["near_duplicate"]
    # The same manual re-saved by Notepad: BOM and CRLF, so other bytes but the very same text.
    # (A byte-identical copy would be skipped by ingest as a re-delivery and never reach dedup.)
    resaved = bank["manuals"][exact["of"]].replace("\n", "\r\n")
    manuals[exact["name"]] = codecs.BOM_UTF8 + resaved.encode()
    text = bank["manuals"][near["of"]]
    for old, new in near["replace"]:
        if old not in text:
            raise ValueError(f"near-duplicate edit {old!r} is not in {near['of']}")
        text = text.replace(old, new)
    manuals[near["name"]] = text.encode()
    sops = {name: body.encode() for name, body in bank["sops"].items()}
    (out / "docs").mkdir()
    written = []
    for name, docs, fmt, doc_type in (("manuals", manuals, "markdown", "manual"),
                                      ("sops", sops, "text", "sop")):  # fmt: skip
        tally = _tally("document")
        for filename, body in sorted(docs.items()):
            rel = f"docs/{filename}"
            (out / rel).write_bytes(body)
            tally.add_file(rel, 1)
        suffix = ".md" if fmt == "markdown" else ".txt"
        source = {"name": name, "site": "suzhou", "kind": "document", "path": f"docs/*{suffix}",
                  "format": fmt, "constants": {"doc_type": doc_type}}  # fmt: skip
        written.append((source, tally))
    return written


IMAGE_LABELS = ("ok", "scratch", "dent")


def _image(label: str, rng: random.Random) -> bytes:
    """A 32x32 brushed-metal patch; a bright line for a scratch, a dark pit for a dent."""
    from PIL import Image, ImageDraw

    size = 32
    tint = rng.randint(-15, 15)
    pixels = bytearray()
    for y in range(size):
        for x in range(size):
            g = 130 + tint + (x + y) * 30 // (2 * size) + rng.randint(-6, 6) + (4 if y % 3 else 0)
            pixels += bytes((g, g, min(255, g + 6)))
    img = Image.frombytes("RGB", (size, size), bytes(pixels))
    draw = ImageDraw.Draw(img)
    if label == "scratch":
        a = (rng.randint(0, 8), rng.randint(0, size - 1))
        b = (rng.randint(size - 9, size - 1), rng.randint(0, size - 1))
        draw.line([a, b], fill=(232, 232, 238), width=1)
    elif label == "dent":
        cx, cy, r = rng.randint(8, 23), rng.randint(8, 23), rng.randint(3, 5)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(72, 72, 78))
        draw.arc([cx - r, cy - r, cx + r, cy + r], 200, 320, fill=(200, 200, 205))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _write_inspection_images(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    rng = _rng(plan.seed, "inspection_images")
    (out / "images").mkdir()
    tally = _tally("image")
    labels = []
    for n, batch in enumerate(plan.batches, 1):
        label = rng.choices(IMAGE_LABELS, weights=(70, 15, 15))[0]
        ts = batch.start + timedelta(minutes=rng.randint(10, 230))
        name = f"IMG_{n:04d}.png"
        (out / "images" / name).write_bytes(_image(label, rng))
        labels.append([name, label, batch.equipment, batch.lot, f"{ts:%Y-%m-%d %H:%M:%S}"])
    # The same photo filed twice: byte-identical, another name.
    original = rng.choice(labels)
    copy = original[0].replace(".png", "_copy.png")
    shutil.copyfile(out / "images" / original[0], out / "images" / copy)
    labels.append([copy, *original[1:]])
    labels.sort()
    for row in labels:
        if row[0] != copy:  # a re-delivery of bytes already delivered: ingest reads them once
            tally.add_file(f"images/{row[0]}", 1)
    with open(out / "images" / "labels.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["file", "label", "equipment", "lot", "ts"])
        writer.writerows(labels)
    source = {
        "name": "inspection_images",
        "site": "shenzhen",
        "kind": "image",
        "path": "images/*.png",
        "format": "images",
        "sidecar": {"path": "images/labels.csv", "format": "csv", "file_column": "file"},
        "fields": {"label": "label", "equipment_id": "equipment", "lot_id": "lot", "ts_utc": "ts"},
        "time": {"format": "%Y-%m-%d %H:%M:%S"},
    }
    return [(source, tally)]


# -- the whole factory -------------------------------------------------------------------------

#: Top-level names generate() writes; only these are removed when a folder is regenerated.
OWNED = ("modern", "traditional", "quality", "mes", "maintenance", "service", "docs", "images",
         "sources.yaml", "ground_truth.json")  # fmt: skip


def _prepare(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise NotADirectoryError(f"{out} is a file; give a folder to write the factory into")
        if any(out.iterdir()) and not (out / "ground_truth.json").exists():
            msg = (f"{out} is not empty and holds no earlier sample factory "
                   "(no ground_truth.json); choose an empty or new folder")  # fmt: skip
            raise FileExistsError(msg)
        for name in OWNED:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _bank() -> dict[str, Any]:
    text = resources.files("corpusmill").joinpath("defaults/sample_factory.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _sources_yaml(plan: Plan, sources: list[dict[str, Any]]) -> str:
    doc = {
        "version": 1,
        "data_roots": ["."],
        "sites": {"shenzhen": {"timezone": "UTC"}, "suzhou": {"timezone": "Asia/Shanghai"}},
        "equipment": [
            {"id": m.id, "name": m.name, "type": m.type, "aliases": list(m.aliases)}
            for m in MACHINES
        ],
        "sources": sources,
    }
    header = (
        f"# The sample factory (corpusmill.generate, seed {plan.seed}, scale {plan.scale}).\n"
        "# Two sites and every kind of source, with defects at the counts in ground_truth.json.\n"
    )
    return header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)


def generate(
    out: str | Path,
    *,
    scale: int = 1,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write the sample factory into ``out`` and return its ground truth.

    Parameters
    ----------
    out
        The folder to write. It is created if missing; a folder that already holds a sample
        factory (it has a ``ground_truth.json``) is regenerated in place.
    scale
        Days of data per 3; rows and injected defects grow linearly with it. Scale 1 is about
        23,000 sensor readings and well under 5 MB.
    seed
        Same seed and scale give byte-identical files.
    progress
        Called with a short message as each source is written.

    Returns
    -------
    dict
        The ground truth, also written to ``out/ground_truth.json``.

    Raises
    ------
    FileExistsError
        ``out`` is a non-empty folder that is not an earlier sample factory.
    """
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a whole number >= 1, got {scale!r}")
    out = Path(out)
    say = progress or (lambda _msg: None)
    _prepare(out)
    bank = _bank()
    plan = _plan(seed, scale)
    pii = PiiPlanter(bank, _rng(seed, "pii"))
    writers: list[Callable[[], list[Written]]] = [
        lambda: _write_modern_historian(out, plan, bank),
        lambda: _write_traditional_historian(out, plan, bank),
        lambda: _write_wide_historian(out, plan, bank),
        lambda: _write_quality_lab(out, plan, bank),
        lambda: _write_mes(out, plan, bank),
        lambda: _write_maintenance_logs(out, plan, bank, pii),
        lambda: _write_service_tickets(out, plan, bank, pii),
        lambda: _write_documents(out, plan, bank),
        lambda: _write_inspection_images(out, plan, bank),
    ]
    sources: list[dict[str, Any]] = []
    truths: dict[str, Any] = {}
    for write in writers:
        for source, tally in write():
            sources.append(source)
            truths[source["name"]] = tally.as_dict()
            t = truths[source["name"]]
            say(f"{source['name']}: {len(t['files'])} file(s), {t['units_in']} {t['unit']}, "
                f"{t['units_in'] - t['kept']} to quarantine")  # fmt: skip
    (out / "sources.yaml").write_text(_sources_yaml(plan, sources), encoding="utf-8", newline="\n")
    images = len(list((out / "images").glob("*.png")))
    truth = {
        "seed": seed,
        "scale": scale,
        "sources": truths,
        "equipment": {m.id: list(m.aliases) for m in MACHINES},
        "pii": dict(pii.counts),
        "documents": {"exact_duplicates": 1, "near_duplicates": 1},
        "images": {"count": images, "duplicates": 1},
    }
    (out / "ground_truth.json").write_text(
        json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8", newline="\n"
    )
    say(f"wrote {out} (seed {seed}, scale {scale})")
    return truth

