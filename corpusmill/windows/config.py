"""How windows are cut, labelled and split: the settings and their checks."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS_US = {
    "ns": 0.001,
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 604_800_000_000,
}
_DURATION = re.compile(r"(\d+)(ns|us|ms|s|m|h|d|w)")


@dataclass(frozen=True)
class WindowConfig:
    """How windows are cut, labelled and split (durations are polars duration strings)."""

    window: str = "10m"
    step: str = "10m"  # stride; == window => non-overlapping
    resample: str = "1m"  # grid the channels are aligned to
    horizon: str = "1h"  # label look-ahead after the window end
    min_coverage: float = 0.5  # fraction of non-null cells needed to keep a window
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train, val, test
    seed: int = 0
    #: hold out whole machines for test when at least this many have windows; else split by time
    min_equipment_for_holdout: int = 3
    #: maintenance_type values (case-insensitive) that count as a failure
    failure_types: tuple[str, ...] = ("corrective",)

    def __post_init__(self) -> None:
        Checked.of(self)  # a setting that cannot cut windows is refused when it is made


def duration_us(text: str, name: str = "duration") -> int:
    """Microseconds in a fixed-length polars duration such as ``"90s"`` or ``"1h30m"``.

    Calendar units (``mo``, ``q``, ``y``) and index units (``i``) are refused: a window must have
    the same length everywhere.
    """
    text = text.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        msg = (
            f"{name} {text!r} is not a fixed-length polars duration "
            "(e.g. '30s', '10m', '1h30m'; units ns us ms s m h d w)"
        )
        raise ValueError(msg)
    us = sum(int(n) * _UNITS_US[u] for n, u in parts)
    if us <= 0 or us != int(us):
        msg = f"{name} {text!r} must be a positive whole number of microseconds"
        raise ValueError(msg)
    return int(us)


@dataclass(frozen=True)
class Checked:
    """A WindowConfig with its durations in microseconds, checked once per build."""

    cfg: WindowConfig
    window: int
    step: int
    res: int
    horizon: int
    n_steps: int

    @classmethod
    def of(cls, cfg: WindowConfig) -> Checked:
        window = duration_us(cfg.window, "window")
        step = duration_us(cfg.step, "step")
        res = duration_us(cfg.resample, "resample")
        horizon = duration_us(cfg.horizon, "horizon")
        for name, v in (("window", window), ("step", step)):
            if v % res:
                msg = (
                    f"{name} {getattr(cfg, name)!r} is not a whole number of resample buckets "
                    f"({cfg.resample!r})"
                )
                raise ValueError(msg)
        if not 0 <= cfg.min_coverage <= 1:
            msg = f"min_coverage must be within 0..1, got {cfg.min_coverage}"
            raise ValueError(msg)
        if len(cfg.split) != 3 or min(cfg.split) < 0 or abs(sum(cfg.split) - 1) > 1e-9:
            msg = f"split must be three fractions (train, val, test) summing to 1, got {cfg.split}"
            raise ValueError(msg)
        return cls(cfg, window, step, res, horizon, window // res)


