"""Historian exports: Shenzhen's Parquet historian, Suzhou's SCADA CSVs and its data logger.

- ``modern_historian``: long Parquet, UTC, SI units, clean.
- ``traditional_historian``: long GB18030 CSV with Chinese headers, local time, °F and psi, several
  spellings per machine, and a cut-off last line in the last file.
- ``wide_historian``: a data-logger CSV with a BOM, US-style timestamps and one column per tag;
  it counts in cells.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from corpusmill.generate.plant import (
    CNC1,
    CNC2,
    FURNACE,
    IMM,
    PRESS,
    ROBOT,
    SCADA_ALIASES,
    UTC,
    Plan,
    local_midnight,
    rng_for,
    utc_midnight,
)
from corpusmill.generate.truth import (
    BAD_TIMESTAMP,
    BETWEEN,
    DUPLICATE,
    NON_NUMERIC,
    NOT_NULL,
    RAGGED_ROW,
    UNKNOWN_EQUIPMENT,
    Row,
    Written,
    inject,
    scaled,
    spread,
    tally_for,
)

STEP = timedelta(minutes=5)

#: Defects per unit of scale, by source. ``ragged_row`` in traditional_historian gets one more:
#: the truncated last line.
TRADITIONAL_DEFECTS = {
    NON_NUMERIC: 6, BAD_TIMESTAMP: 3, RAGGED_ROW: 3, UNKNOWN_EQUIPMENT: 4,
    DUPLICATE: 5, NOT_NULL: 3, BETWEEN: 4,
}  # fmt: skip
WIDE_DEFECTS = {NON_NUMERIC: 5, BAD_TIMESTAMP: 1, RAGGED_ROW: 2, DUPLICATE: 2, BETWEEN: 3}
#: Wide-file checks that take out a whole row (all its tag cells).
ROW_CHECKS = frozenset({BAD_TIMESTAMP, RAGGED_ROW, DUPLICATE})

STATUS_STRINGS = ("Bad", "Scan Timeout", "Inp OutRange", "Comm Fail")
UNKNOWN_ALIASES = ("3号机床", "CNC-03", "4号机床")


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


def write_modern_historian(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    import polars as pl

    rng = rng_for(plan.seed, "modern_historian")
    tally = tally_for("sensor")
    folder = out / "modern" / "historian"
    folder.mkdir(parents=True)
    for day in range(plan.days):
        stamps = _day_stamps(utc_midnight(day))
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


def write_traditional_historian(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    rng = rng_for(plan.seed, "traditional_historian")
    tally = tally_for("sensor")
    defects = scaled(TRADITIONAL_DEFECTS, plan.scale)
    per_file = spread(defects, plan.days, rng)
    folder = out / "traditional" / "historian"
    folder.mkdir(parents=True)
    for day in range(plan.days):
        last = day == plan.days - 1
        rows = [
            [f"{t:%Y/%m/%d %H:%M:%S}", rng.choice(SCADA_ALIASES[sig.equipment]), sig.label,
             _fmt(_reading(sig, t.astimezone(UTC), plan, rng), sig.decimals), sig.unit, "Good"]
            for t in _day_stamps(local_midnight(day))
            for sig in TRADITIONAL_SIGNALS
        ]  # fmt: skip
        inject(rows, per_file[day], _mutate_scada, rng, protect=1 if last else 0)
        lines = [",".join(TRADITIONAL_HEADER)] + [",".join(r) for r in rows]
        if last:
            lines[-1] = _truncate(lines[-1], rng)
            per_file[day][RAGGED_ROW] += 1
        text = "\r\n".join(lines) + ("" if last else "\r\n")
        rel = f"traditional/historian/SCADA_{local_midnight(day):%Y%m%d}.csv"
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


def write_wide_historian(out: Path, plan: Plan, bank: dict[str, Any]) -> list[Written]:
    rng = rng_for(plan.seed, "wide_historian")
    n_tags = len(WIDE_SIGNALS)
    tally = tally_for("sensor", unit="cells")
    per_file = spread(scaled(WIDE_DEFECTS, plan.scale), plan.days, rng)
    folder = out / "traditional" / "datalogger"
    folder.mkdir(parents=True)
    for day in range(plan.days):
        rows = []
        for t in _day_stamps(local_midnight(day)):
            t_utc = t.astimezone(UTC)
            rows.append([f"{t:%m/%d/%Y %I:%M:%S %p}"] + [
                _fmt(_reading(s, t_utc, plan, rng), s.decimals) for s in WIDE_SIGNALS
            ])  # fmt: skip
        inject(rows, per_file[day], _mutate_wide, rng)
        lines = [",".join([WIDE_TIME_COLUMN] + [s.label for s in WIDE_SIGNALS])]
        lines += [",".join(r) for r in rows]
        rel = f"traditional/datalogger/DL_{local_midnight(day):%Y%m%d}.csv"
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
