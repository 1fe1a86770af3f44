"""``quality_lab``: Suzhou's Excel lab workbook (a decoy first sheet, a title row over the data)."""

from __future__ import annotations

import io
import random
import re
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from corpusmill.generate.plant import FURNACE, SCADA_ALIASES, SHANGHAI, Plan, rng_for
from corpusmill.generate.truth import NOT_NULL, Written, tally_for

#: Blank measurements in the lab workbook, per unit of scale. A variable inspection (it has spec
#: limits) without its value is quarantined by the quality_inspections suite (within its 5%).
QUALITY_BLANKS = 2
#: The only timestamp written into file metadata (xlsx document properties and zip entries).
FIXED_STAMP = datetime(2024, 4, 1)


#: Every RESPELL-th inspected lot is typed into the lab workbook in lower case with a leading space,
#: the way a lab clerk keys it; ``process_quality`` must still join it to its work order.
RESPELL = 3

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
        n_lot = len({r[3].strip().upper() for r in rows})
        lot = f" {wo.lot.lower()}" if n_lot % RESPELL == RESPELL - 1 else wo.lot
        for name, (nominal, tol, code, drift) in CHARACTERISTICS.items():
            for _ in range(3):
                value = round(nominal + rng.gauss(0, tol / 3) + (drift if hot else 0), 3)
                ok = nominal - tol <= value <= nominal + tol
                rows.append([
                    f"QC{ts:%y%m%d}{len(rows) + 1:05d}", ts.replace(tzinfo=None), alias, lot,
                    name, value, round(nominal - tol, 3), round(nominal + tol, 3),
                    "合格" if ok else "不合格", "pass" if ok else "fail", None if ok else code,
                ])  # fmt: skip
    return rows


def lot_outcomes(rows: list[list[Any]]) -> dict[str, dict[str, Any]]:
    """Ground truth of ``process_quality`` per lot key (stripped, upper case): the spelling in the
    workbook, result, defect codes, inspections and the mean measurement (mm) per characteristic.
    A blank measurement on an inspection with spec limits is quarantined by validation, so it is
    not an inspection of its lot."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r[5] is None and r[7] is not None:
            continue
        lot = out.setdefault(r[3].strip().upper(), {"spelled": r[3], "result": "pass",
                                                    "defect_codes": [], "n_inspections": 0,
                                                    "measurements": {}})  # fmt: skip
        lot["n_inspections"] += 1
        if r[9] == "fail":
            lot["result"] = "fail"
            if r[10] not in lot["defect_codes"]:
                lot["defect_codes"] = sorted([*lot["defect_codes"], r[10]])
        if r[5] is not None:
            lot["measurements"].setdefault(r[4], []).append(r[5])
    for lot in out.values():
        lot["measurements"] = {k: {"mean_mm": sum(v) / len(v), "n": len(v)}
                               for k, v in sorted(lot["measurements"].items())}  # fmt: skip
    return out


def write_quality_lab(
    out: Path, plan: Plan, bank: dict[str, Any], outcomes: dict[str, Any] | None = None
) -> list[Written]:
    """Write the lab workbook; ``outcomes`` (when given) is filled with :func:`lot_outcomes`."""
    from openpyxl import Workbook

    rng = rng_for(plan.seed, "quality_lab")
    rows = _quality_rows(plan, rng)
    passing = [i for i, r in enumerate(rows) if r[9] == "pass"]
    for i in rng.sample(passing, QUALITY_BLANKS * plan.scale):  # not on a failing row
        rows[i][5] = None  # the measurement never made it from the gauge to the sheet
    if outcomes is not None:
        outcomes.update(lot_outcomes(rows))
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
    tally = tally_for("quality")
    tally.add_file(rel, len(rows))
    tally.quarantined[NOT_NULL] += QUALITY_BLANKS * plan.scale
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
