"""Suite for ``sensor_readings``: long-format readings in SI units."""

from __future__ import annotations

from quality.spec import Cond, ExpectationSpec
from quality.suites._build import in_set, not_null, row_count, between

#: Source quality flags the historians we know emit (after standardize); anything else is a warning.
QUALITY_FLAGS = ["Good", "Uncertain", "Bad"]


def expectations() -> list[ExpectationSpec]:
    return [
        row_count("row_count", 0, None, desc="the table can be read"),
        not_null("value_not_null", "value", desc="every reading has a numeric value"),
        between("temperature_range", "value", 173.15, 1273.15, where=(Cond("unit", "==", "K"),),
                desc="temperatures (K) within -100..1000 °C"),  # fmt: skip
        between("pressure_range", "value", 0.0, 1e8, where=(Cond("unit", "==", "Pa"),),
                desc="pressures (Pa) within 0..1000 bar"),  # fmt: skip
        not_null("signal_not_null", "signal"),
        not_null("equipment_id_not_null", "equipment_id"),
        # Relative-clock batch rows carry batch_id + t_offset_s instead of ts_utc.
        not_null("ts_utc_not_null", "ts_utc", where=(Cond("batch_id", "is_null"),),
                 desc="ts_utc is present unless the row is on a batch-relative clock"),  # fmt: skip
        in_set("quality_in_set", "quality", QUALITY_FLAGS, severity="warn",
               desc="the source quality flag is a known one"),  # fmt: skip
    ]
