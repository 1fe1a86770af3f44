"""SFT pairs: zh and en templates, redaction, exclusions with reasons, stable ids, record types
and templates from the sources file, placeholder-free prompts, near duplicates, chat messages,
and the pairs of the real excavator work orders."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from corpusmill.canonical import schema
from corpusmill.sft import (
    DEFAULT_TEMPLATES,
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
            # the clause with placeholders stays out of the prompt
            "设备 plant1/cnc/line1/CNC-01 报告：主轴异响,温度偏高。 请给出诊断和处理措施。"
        ),
        "response": "拆检发现主轴轴承磨损,更换轴承并加注润滑脂",
        "messages": [
            {"role": "system", "content": DEFAULT_TEMPLATES["diagnosis"]["system"]["zh"]},
            {"role": "user", "content": zh["instruction"]},
            {"role": "assistant", "content": "拆检发现主轴轴承磨损,更换轴承并加注润滑脂"},
        ],
        "template": "diagnosis",
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


def test_routine_and_no_finding_records_make_no_pairs():
    handover = {"text": "Shift handover check: oil level, air pressure, guards",
                "action": "No findings; tech: John Smith"}  # fmt: skip
    pairs, excluded = _mined(
        records(
            EN,
            {**handover, "record_id": "WO-10", "maintenance_type": "inspection"},
            {**handover, "record_id": "WO-11", "maintenance_type": "corrective"},
            {"record_id": "WO-12", "maintenance_type": None, "text": "日常点检：油位、气压",
             "action": "正常，无异常"},
            {"record_id": "WO-13", "maintenance_type": "preventive",
             "text": "Scheduled PM: replace return filter", "action": "Filter replaced, oil OK"},
        )
    )  # fmt: skip
    assert pairs["record_id"].to_list() == ["WO-2"]
    assert excluded.select("record_id", "reason", "check").rows() == [
        ("WO-10", "routine_record_type", "record_type"),
        ("WO-11", "no_finding", "has_finding"),
        ("WO-12", "no_finding", "has_finding"),
        ("WO-13", "routine_record_type", "record_type"),
    ]


def test_a_symptom_of_nothing_but_personal_data_makes_no_pair():
    pairs, excluded = _mined(
        records({"record_id": "WO-14", "text": "报修人：张伟，电话：13812345678",
                 "action": "更换主轴轴承并试运行"})
    )
    assert pairs.height == 0
    assert excluded.select("reason", "check").rows() == [
        ("symptom_only_placeholders", "placeholder_free_prompt")
    ]


def test_no_placeholder_reaches_a_prompt():
    rows = [
        {"record_id": "WO-20", "text": "Hydraulic leak at the chuck; reported by Mary Jones, "
         "phone +86 138 1234 5678. Oil on the floor", "action": "Replaced the cylinder seals"},
        {"record_id": "WO-21", "text": "主轴异响，联系 李娜，备件供应商：SKF，温度偏高",
         "action": "更换主轴轴承，备件来自SKF"},
    ]  # fmt: skip
    config = SftConfig(confidential={"suppliers": ["SKF"]})
    pairs = mine_sft_pairs(records(*rows), config=config).frame
    assert pairs["instruction"].to_list() == [
        ("Equipment reported: Hydraulic leak at the chuck; Oil on the floor. Please give a diagnosis "
        "and the corrective action."),
        "设备报告：主轴异响,温度偏高。 请给出诊断和处理措施。",
    ]
    assert pairs["response"][1] == "更换主轴轴承,备件来自[SUPPLIER]"  # responses keep them
    users = pairs["messages"].list.get(1).struct.field("content")
    assert not users.str.contains(r"\[[A-Z_]+\]").any()


def test_near_duplicate_pairs_name_their_kept_twin():
    pairs, excluded = _mined(
        records(
            EN,
            {**EN, "record_id": "WO-30", "action": "Replaced the main pump seal, pressure test OK"},
        )
    )
    assert pairs["record_id"].to_list() == ["WO-2"]
    (reason,) = excluded["reason"].to_list()
    assert reason.startswith(f"near_duplicate of {pair_id_for('WO-2')} (jaccard~")
    assert excluded["check"].to_list() == ["near_dedup"]


def test_record_types_and_templates_come_from_the_sources_file(tmp_path):
    from corpusmill import config

    block = """\
corpora:
  sft_pairs:
    min_chars: 4
    record_types: {corrective: repair, PM01: repair, "*": skip}
    templates:
      repair:
        system: {zh: 你是维修专家。, en: You are a repair expert.}
        user: {zh: "{equipment}：{symptom}", en: "{equipment}: {symptom} What was done?"}
"""
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES + block, encoding="utf-8")
    cfg = config.load(path).corpus_config("sft_pairs")
    result = mine_sft_pairs(records(EN, {**EN, "record_id": "WO-40", "maintenance_type": "PM02",
                                         "text": "Boom cylinder leaking"}), config=cfg)  # fmt: skip
    pairs, excluded = result.frame, result.excluded
    assert pairs.select("instruction", "template").rows() == [
        (("plant1/press/line2/P-02: Hydraulic pressure drops below 10 MPa during pressing. "
         "What was done?"), "repair")
    ]
    assert pairs["messages"][0][0] == {"role": "system", "content": "You are a repair expert."}
    assert excluded.select("record_id", "reason").rows() == [("WO-40", "routine_record_type")]


SOURCES = """\
version: 1
sites: {plant: {timezone: UTC}}
sources:
  - {name: m, site: plant, kind: maintenance, path: m.csv, format: csv}
"""


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("{record_types: {corrective: repair}}",
         "record_types.corrective: template 'repair' is not declared under templates"),
        ("{templates: {diagnosis: {system: {zh: a, en: b}, user: {zh: '{symptom}', en: x}}}}",
         "templates.diagnosis: user.en must contain {symptom}"),
        ("{templates: {diagnosis: {system: {zh: a}, user: {zh: '{symptom}', en: '{symptom}'}}}}",
         "system needs a text for en"),
        (("{templates: {diagnosis: {system: {zh: a, en: b}, user: {zh: '{symptom} {lot}', "
         "en: '{symptom}'}}}}"), "unknown field(s) ['lot']; fields: symptom, equipment"),
        ("{split_patterns: ['(?P<symptom>.+) - (.+)']}",
         "split_patterns[0]: '(?P<symptom>.+) - (.+)' needs named groups"),
        ("{no_finding_patterns: ['(?<=a)b']}", ("no_finding_patterns[0]: '(?<=a)b' is not a "
         "regular expression polars can run")),
    ],
    ids=["no-template", "no-symptom", "one-language", "unknown-field", "split-groups",
         "look-behind"],
)  # fmt: skip
def test_bad_sft_settings_are_refused_at_load(tmp_path, block, message):
    from corpusmill import config
    from corpusmill.config import ConfigError

    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES + "corpora:\n  sft_pairs: " + block + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert "corpora.sft_pairs" in str(e.value) and message in str(e.value)


def test_messages_survive_to_jsonl_as_they_are():
    from corpusmill.shards.formats import jsonl_bytes

    pairs, _ = _mined(records(ZH, EN))
    lines = [json.loads(x) for x in jsonl_bytes(pairs).decode().splitlines()]
    assert [m["role"] for m in lines[1]["messages"]] == ["system", "user", "assistant"]
    assert lines[1]["messages"][1] == {"role": "user", "content": lines[1]["instruction"]}
    assert lines[1]["messages"][2] == {"role": "assistant", "content": EN["action"]}


REAL = Path(__file__).parent.parent / "examples" / "real-datasets" / "sources.yaml"


def test_real_excavator_work_orders_make_pairs(tmp_path):
    """The NIST excavator work orders have one terse text per order: the pairs come from the
    orders that name a defect and its repair ("REPLACE BROKEN BUCKET TOOTH")."""
    from corpusmill import config
    from corpusmill.ingest import ingest_source
    from corpusmill.layout import Lake

    cfg = config.load(REAL)
    ingest_source(cfg, cfg.source("excavator_work_orders"), tmp_path, run_id="real")
    orders = pl.read_delta(str(Lake(tmp_path).staged("excavator_work_orders")))
    result = mine_sft_pairs(orders, config=cfg.corpus_config("sft_pairs"))
    pairs, excluded = result.frame, result.excluded
    assert orders.height == 5484
    # near dedup hashes shingles as datasketch does: one pair at an estimate of ~0.81 under the
    # former hash is below 0.8 under it and is kept
    assert pairs.height == 325
    assert dict(excluded.group_by("check").len().sort("check").iter_rows()) == {
        "exact_dedup": 67, "has_symptom_and_action": 5048, "min_chars": 4, "near_dedup": 40,
    }  # fmt: skip
    assert pairs.height + excluded.height == orders.height  # every order accounted for
    assert dict(pairs.group_by("maintenance_type").len().sort("maintenance_type").iter_rows()) == {
        "PM01": 315, "PM06": 10,
    }  # fmt: skip
    row = pairs.filter(pl.col("response") == "REPLACE BROKEN BUCKET TOOTH").row(0, named=True)
    assert row["instruction"] == (
        f"Equipment {row['equipment_id']} reported: BROKEN BUCKET TOOTH. Please give a diagnosis "
        "and the corrective action."
    )
    # the orders written two ways ("REPAIR HYD OIL LEAK", "repair hyd oil leak") are one pair
    twins = excluded.filter(pl.col("check") == "near_dedup")
    kept = set(pairs["pair_id"])
    assert all(r.split()[2] in kept for r in twins["reason"])
