"""SFT pairs: zh and en templates, redaction, exclusions with reasons, stable ids."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from corpusmill.canonical import schema
from corpusmill.sft import (
    SFT_EXCLUDED_SCHEMA,
    SFT_PAIRS_SCHEMA,
    SftConfig,
    mine_sft_pairs,
    pair_id_for,
)
from corpusmill.text import count_tokens


def _mined(maintenance: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    result = mine_sft_pairs(maintenance)
    return result.frame, result.excluded


def records(*rows: dict) -> pl.DataFrame:
    s = schema("maintenance_records")
    base = {"_source": "cmms", "_file": "wo.csv", "maintenance_type": "corrective"}
    return pl.DataFrame(
        [{c: {**base, "_row": n, **r}.get(c) for c in s} for n, r in enumerate(rows, start=1)],
        schema=s,
    )


ZH = {
    "record_id": "WO-1",
    "equipment_id": "plant1/cnc/line1/CNC-01",
    "text": "主轴异响，温度偏高，报修人：张伟 13812345678",
    "action": "拆检发现主轴轴承磨损，更换轴承并加注润滑脂",
}
EN = {
    "record_id": "WO-2",
    "equipment_id": "plant1/press/line2/P-02",
    "text": "Hydraulic pressure drops below 10 MPa during pressing",
    "action": "Replaced the main pump seal; pressure test OK.",
}


def test_zh_and_en_pairs():
    pairs, excluded = _mined(records(ZH, EN))
    assert pairs.schema == SFT_PAIRS_SCHEMA
    assert excluded.height == 0
    zh, en = pairs.iter_rows(named=True)
    assert zh == {
        "pair_id": pair_id_for("WO-1"),
        "instruction": (
            "设备 plant1/cnc/line1/CNC-01 报告：主轴异响,温度偏高,报修人:[NAME] [PHONE]。"
            " 请给出诊断和处理措施。"
        ),
        "response": "拆检发现主轴轴承磨损,更换轴承并加注润滑脂",
        "language": "zh",
        "record_id": "WO-1",
        "equipment_id": "plant1/cnc/line1/CNC-01",
        "maintenance_type": "corrective",
        "n_tokens": count_tokens(zh["instruction"]) + count_tokens(zh["response"]),
        "_source": "cmms",
        "_file": "wo.csv",
        "_row": 1,
    }
    assert en["instruction"] == (
        "Equipment plant1/press/line2/P-02 reported: Hydraulic pressure drops below 10 MPa during "
        "pressing. Please give a diagnosis and the corrective action."
    )
    assert en["response"] == "Replaced the main pump seal; pressure test OK."
    assert en["language"] == "en"
    assert len(en["pair_id"]) == 16 and en["pair_id"] == pair_id_for("WO-2")


def test_excluded_records_say_why():
    pairs, excluded = _mined(
        records(
            EN,
            {"record_id": "WO-3", "text": "Annual inspection of the conveyor", "action": None},
            {"record_id": "WO-4", "text": "Leak", "action": "Replaced the flange gasket"},
            {"record_id": "WO-5", "text": "Conveyor belt slipping", "action": "Done"},
            {"record_id": "WO-6", "text": None, "action": "Replaced the flange gasket"},
            {**EN, "record_id": "WO-7"},  # the same pair again
        )
    )
    # of two identical pairs the one with the lower record id stays
    kept, dup = "WO-2", "WO-7"
    assert excluded.schema == SFT_EXCLUDED_SCHEMA
    assert dict(zip(excluded["record_id"], excluded["reason"], strict=True)) == {
        "WO-3": "no_action",
        "WO-4": "symptom_too_short",
        "WO-5": "action_too_short",
        "WO-6": "no_symptom",
        dup: f"exact_duplicate of {pair_id_for(kept)}",
    }
    assert dict(zip(excluded["record_id"], excluded["check"], strict=True))["WO-3"] == (
        "has_symptom_and_action"
    )
    assert pairs["record_id"].to_list() == [kept]


def test_action_cue_inside_the_text_becomes_the_response():
    pairs, _ = _mined(
        records(
            {
                "record_id": "WO-8",
                "equipment_id": "X-1",
                "text": "Motor M3 tripped on overload. Action: reset the breaker and checked the current",
                "action": None,
            },
            {
                "record_id": "WO-9",
                "text": "液压站油温过高。处理措施：清洗冷却器并更换液压油",
                "action": "",
            },
        )
    )
    assert pairs.select("record_id", "response").rows() == [
        ("WO-8", "reset the breaker and checked the current"),
        ("WO-9", "清洗冷却器并更换液压油"),
    ]
    assert pairs["instruction"][1] == "设备报告：液压站油温过高。 请给出诊断和处理措施。"


def test_redaction_can_be_switched_off_and_output_is_deterministic():
    raw = mine_sft_pairs(records(ZH), config=SftConfig(redact=False)).frame
    assert "13812345678" in raw["instruction"][0] and "张伟" in raw["instruction"][0]
    a = mine_sft_pairs(records(ZH, EN))
    b = mine_sft_pairs(records(EN, ZH))
    assert_frame_equal(a.frame.drop("_row"), b.frame.drop("_row"))
