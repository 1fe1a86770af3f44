"""The plant both sites share: machines, the calendar, and the plan every writer renders.

:func:`make_plan` decides what happens (one breakdown per site and day, Suzhou's work orders,
Shenzhen's batches); each writer then exports its own view of that one plan, so a fault shows up
in the sensor drift, the scrap counts, the lab results and the maintenance log alike.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(2024, 3, 5)
DAYS_PER_SCALE = 3


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


def rng_for(seed: int, part: str) -> random.Random:
    """An independent stream per writer, so that one writer's draws do not shift another's."""
    return random.Random(f"corpusmill:{seed}:{part}")


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def local_midnight(day: int) -> datetime:
    return datetime.combine(FIRST_DAY + timedelta(days=day), datetime.min.time(), SHANGHAI)


def utc_midnight(day: int) -> datetime:
    return datetime.combine(FIRST_DAY + timedelta(days=day), datetime.min.time(), UTC)


def make_plan(seed: int, scale: int) -> Plan:
    """One breakdown per site and day, taking each site's machines in a shuffled turn."""
    rng = rng_for(seed, "plan")
    days = DAYS_PER_SCALE * scale
    turns = {}
    for site in ("suzhou", "shenzhen"):
        turns[site] = [m for m in MACHINES if m.site == site]
        rng.shuffle(turns[site])
    failures = []
    for day in range(days):
        for site, midnight in (("suzhou", local_midnight(day)), ("shenzhen", utc_midnight(day))):
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
        plan, rng, products=products, midnight=local_midnight,
        shifts=((8, 12, "D"), (20, 12, "N")),
        number=lambda t, seq, code, shift: (
            f"WO{t:%y%m%d}{seq:02d}", f"L{t:%y%m%d}-{code}{shift}"
        ),
    )  # fmt: skip


def _batches(plan: Plan, rng: random.Random) -> tuple[Order, ...]:
    products = {IMM: ("HOUSING-P3", "I1", 480), PRESS: ("BRACKET-S5", "P1", 900)}
    return _orders(
        plan, rng, products=products, midnight=utc_midnight,
        shifts=tuple((h, 4, str(h // 4 + 1)) for h in range(0, 24, 4)),
        number=lambda t, seq, code, shift: (
            f"B{t:%y%m%d}-{seq:02d}", f"SZ{t:%y%m%d}-{code}-{shift}"
        ),
    )  # fmt: skip
