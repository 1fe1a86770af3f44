"""Text corpus: each drop reason, stable ids, determinism, PII, language tags, token estimate."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from corpusmill.canonical import schema
from corpusmill.text import (
    TEXT_CORPUS_SCHEMA,
    TEXT_EXCLUDED_SCHEMA,
    TextConfig,
    build_text_corpus,
    clean_text,
    count_tokens,
    id_card_valid,
    redact_text,
    tag_text,
)

PROV = {"_source": "docs_src", "_file": "docs.csv"}

LONG_EN = (
    "The spindle bearing of CNC-01 made a grinding noise during the night shift; "
    "the technician replaced the bearing and refilled the grease."
)
LONG_EN_NEAR = LONG_EN.replace("refilled the grease", "refilled grease")


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    s = schema(table)
    return pl.DataFrame([{c: r.get(c) for c in s} for r in rows], schema=s)


def docs(*rows: tuple[str, str | None]) -> pl.DataFrame:
    return frame(
        "documents",
        [
            {"doc_id": i, "doc_type": "manual", "text": t, "_row": n, **PROV}
            for n, (i, t) in enumerate(rows, start=1)
        ],
    )


def no_maintenance() -> pl.DataFrame:
    return frame("maintenance_records", [])


def reasons(result) -> dict[str, tuple[str, str]]:
    return {r["doc_id"]: (r["reason"], r["check"]) for r in result.excluded.iter_rows(named=True)}


# --- drop reasons -------------------------------------------------------------------------------


def test_each_drop_reason_is_recorded_with_its_check():
    result = build_text_corpus(
        docs(
            ("D1", LONG_EN),
            ("D2", " \n\t\u200b "),  # only whitespace and a zero-width space
            ("D3", "too short"),
            ("D4", LONG_EN),  # exact copy of D1
            ("D5", LONG_EN_NEAR),  # near copy of D1
            ("D6", None),
        ),
        no_maintenance(),
    )
    got = reasons(result)
    assert got["documents:D2"] == ("empty", "min_chars")
    assert got["documents:D6"] == ("empty", "min_chars")
    assert got["documents:D3"] == ("too_short", "min_chars")
    assert got["documents:D4"] == ("exact_duplicate of documents:D1", "exact_dedup")
    reason, check = got["documents:D5"]
    assert check == "near_dedup"
    assert reason.startswith("near_duplicate of documents:D1 (jaccard~0.")
    assert result.frame.get_column("doc_id").to_list() == ["documents:D1"]
    assert result.frame.get_column("near_dup_cluster").to_list() == ["documents:D1"]
    assert result.excluded.columns == list(TEXT_EXCLUDED_SCHEMA)
    assert result.excluded.row(0, named=True) == {
        "doc_id": "documents:D2",
        "source_table": "documents",
        "source_id": "D2",
        "reason": "empty",
        "check": "min_chars",
        "_source": "docs_src",
        "_file": "docs.csv",
        "_row": 2,
    }
    s = result.stats
    assert s["in"] == 6 and s["kept"] == 1
    assert s["dropped"] == {
        "empty": 2, "too_short": 1, "repetition": 0, "symbol_ratio": 0, "boilerplate": 0,
        "language": 0, "exact_duplicate": 1, "near_duplicate": 1,
    }  # fmt: skip
    assert s["steps"]["min_chars"] == {"in": 6, "kept": 3, "dropped": {"empty": 2, "too_short": 1}}
    assert s["steps"]["exact_dedup"]["in"] == 3 and s["steps"]["exact_dedup"]["kept"] == 2
    assert s["steps"]["near_dedup"]["in"] == 2 and s["steps"]["near_dedup"]["kept"] == 1


# --- quality filters ----------------------------------------------------------------------------


def test_quality_filters_drop_with_their_exact_reason():
    repeated = "Check the oil level daily.\n" * 3 + "Replace the filter every 500 hours."
    symbols = "## 12.5/30.0 -> 44.1 (+-0.3) ## 99.9% ## 1234-5678 ## 00:00:00 ##"
    boiler = "Page 3 of 10\nConfidential - do not copy\nGrease the spindle bearing weekly please."
    loop = "the pump the pump the pump the pump the pump the pump ran well after the service today"
    chinese = "主轴轴承在夜班期间发出异响，技术员更换了轴承并重新加注润滑脂，设备恢复正常运行。"
    result = build_text_corpus(
        docs(("R", repeated), ("S", symbols), ("B", boiler), ("Z", chinese), ("L", loop),
             ("E", LONG_EN)),
        no_maintenance(),
        config=TextConfig(
            boilerplate_patterns=(r"^Page \d+ of \d+$", r"(?i)^confidential"),
            languages=("en",),
        ),
    )
    assert reasons(result) == {
        "documents:R": ("dup_line_frac 0.5 > 0.3", "repetition"),
        "documents:S": ("symbol_digit_ratio 1.0 > 0.5", "symbol_ratio"),
        "documents:B": ("boilerplate_frac 0.67 > 0.5", "boilerplate"),
        "documents:Z": ("language zh not in ['en']", "language"),
        "documents:L": ("top_2gram_frac 0.35 > 0.2", "repetition"),
    }
    assert result.frame.get_column("doc_id").to_list() == ["documents:E"]
    assert result.stats["steps"]["repetition"] == {"in": 6, "kept": 4, "dropped": {"repetition": 2}}


def test_quality_filters_are_off_at_limit_one_and_a_bad_regex_is_named():
    repeated = "Check the oil level daily.\n" * 4
    result = build_text_corpus(
        docs(("R", repeated)), no_maintenance(), config=TextConfig(max_dup_line_frac=1.0)
    )
    assert result.frame.height == 1
    with pytest.raises(ValueError, match=r"boilerplate_patterns: bad regex '\(unclosed'"):
        TextConfig(boilerplate_patterns=("(unclosed",))
    with pytest.raises(ValueError, match="max_symbol_digit_ratio must lie in"):
        TextConfig(max_symbol_digit_ratio=1.5)


def test_duplicates_keep_the_lowest_doc_id_whatever_the_input_order():
    result = build_text_corpus(docs(("B", LONG_EN), ("A", LONG_EN)), no_maintenance())
    assert result.frame.get_column("doc_id").to_list() == ["documents:A"]
    assert reasons(result) == {"documents:B": ("exact_duplicate of documents:A", "exact_dedup")}


def test_distinct_documents_are_not_near_duplicates():
    other = "Hydraulic unit of press P-02 leaked oil at the main pump seal; seal replaced, tested at 20 MPa."
    result = build_text_corpus(docs(("D1", LONG_EN), ("D2", other)), no_maintenance())
    assert result.frame.height == 2
    assert result.excluded.height == 0


def test_min_chars_and_threshold_come_from_config():
    cfg = TextConfig(min_chars=5, near_dup_threshold=0.99)
    result = build_text_corpus(
        docs(("D1", LONG_EN), ("D2", LONG_EN_NEAR), ("D3", "too short")),
        no_maintenance(),
        config=cfg,
    )
    assert result.frame.get_column("doc_id").to_list() == [
        "documents:D1",
        "documents:D2",
        "documents:D3",
    ]


def test_invalid_config_names_the_problem():
    with pytest.raises(ValueError, match="near_dup_threshold"):
        build_text_corpus(docs(), no_maintenance(), config=TextConfig(near_dup_threshold=0))


# --- ids, schema, determinism -------------------------------------------------------------------


def _mixed_inputs() -> tuple[pl.DataFrame, pl.DataFrame]:
    d = docs(
        ("D1", "# 主轴维护\n\n主轴轴承每运行 500 小时需补充润滑脂。联系人：王伟 电话 13812345678"),
        ("D2", LONG_EN),
        ("D2", "Second delivery under the same id: press P-02 hydraulic seal replaced, 20 MPa OK."),
        ("D3", LONG_EN_NEAR),
    )
    m = frame(
        "maintenance_records",
        [
            {
                "record_id": "WO-1",
                "equipment_id": "plant1/cnc/line1/CNC-01",
                "text": "主轴异响，温度偏高",
                "action": "更换主轴轴承并加注润滑脂，试运行正常",
                "_source": "cmms",
                "_file": "wo.csv",
                "_row": 1,
            }
        ],
    )
    return d, m


def test_doc_ids_are_stable_and_schema_is_exact():
    d, m = _mixed_inputs()
    result = build_text_corpus(d, m)
    assert result.frame.schema == TEXT_CORPUS_SCHEMA
    ids = result.frame.get_column("doc_id").to_list()
    assert ids == ["documents:D1", "documents:D2", "documents:D2#2", "maintenance_records:WO-1"]
    wo = result.frame.row(3, named=True)
    assert wo["source_table"] == "maintenance_records"
    assert wo["source_id"] == "WO-1"
    assert wo["doc_type"] == "maintenance_record"
    assert wo["equipment_id"] == "plant1/cnc/line1/CNC-01"
    assert wo["text"] == "主轴异响,温度偏高\n\n更换主轴轴承并加注润滑脂,试运行正常"  # NFKC: ，-> ,
    assert (wo["_source"], wo["_file"], wo["_row"]) == ("cmms", "wo.csv", 1)
    for row in result.frame.iter_rows(named=True):
        assert row["sha256"] == hashlib.sha256(row["text"].encode()).hexdigest()
        assert row["n_chars"] == len(row["text"])


def test_same_input_gives_identical_output_in_any_row_order():
    d, m = _mixed_inputs()
    first = build_text_corpus(d, m)
    again = build_text_corpus(d, m)
    shuffled = build_text_corpus(d.reverse(), m)
    for other in (again, shuffled):
        assert_frame_equal(first.frame, other.frame)
        assert_frame_equal(first.excluded, other.excluded)
        assert first.stats == other.stats


def test_empty_inputs_give_empty_frames_with_the_schema():
    result = build_text_corpus(docs(), no_maintenance())
    assert result.frame.schema == TEXT_CORPUS_SCHEMA
    assert result.excluded.schema == TEXT_EXCLUDED_SCHEMA
    assert result.frame.height == 0 and result.stats["tokens_total"] == 0


def test_stats_per_language_and_tokens():
    d, m = _mixed_inputs()
    s = build_text_corpus(d, m).stats
    assert set(s["languages"]) == {"en", "zh"}
    assert s["languages"]["zh"]["docs"] == 2
    assert s["tokens_total"] == sum(v["tokens"] for v in s["languages"].values())
    assert s["pii_redactions"] == {"email": 0, "id_card": 0, "phone": 1, "name": 1}


# --- cleaning -----------------------------------------------------------------------------------


def test_clean_normalises_unicode_whitespace_and_markdown():
    raw = (
        "## 标题 ##\r\n\r\n\r\n* item **bold** `code`\n\n---\n| a | b |\n|---|---|\n| 1 | 2 |\n"
        "[manual](http://x/y.pdf) ![photo](a.png)\x07 Ｐ－１０１\u3000ok<br>next &amp; <P1> <0.5MPa"
    )
    assert clean_text(raw) == (
        "标题\n\n- item bold code\n\n| a | b |\n| 1 | 2 |\nmanual photo P-101 ok\nnext & <P1> <0.5MPa"
    )


def test_redaction_off_keeps_pii():
    text = "Call 13812345678 for the spare parts of spindle CNC-01, please."
    result = build_text_corpus(
        docs(("D1", text)), no_maintenance(), config=TextConfig(redact=False)
    )
    assert result.frame.get_column("text").to_list() == [text]
    assert result.frame.get_column("pii_redactions").to_list() == [0]


# --- PII ----------------------------------------------------------------------------------------


def test_each_pii_kind_is_redacted_and_counted():
    text, counts = redact_text(
        "报修人：张伟，电话 13812345678 / +86 139-1234-5678，邮箱 zhang.wei@plant.com.cn，"
        "身份证 11010519491231002X"
    )
    assert text == "报修人：[NAME]，电话 [PHONE] / [PHONE]，邮箱 [EMAIL]，身份证 [ID_CARD]"
    assert counts == {"email": 1, "id_card": 1, "phone": 2, "name": 1}


def test_id_card_with_wrong_check_digit_is_not_redacted():
    assert id_card_valid("11010519491231002X")
    assert not id_card_valid("110105194912310021")
    text, counts = redact_text("序列号 110105194912310021 正常")
    assert text == "序列号 110105194912310021 正常"
    assert counts["id_card"] == 0 and counts["phone"] == 0


def test_chinese_name_after_cue_is_redacted_but_not_a_verb():
    assert redact_text("报修人：李娜")[0] == "报修人：[NAME]"
    assert redact_text("技术员王伟更换轴承")[0] == "技术员[NAME]更换轴承"
    assert redact_text("技术员已更换轴承") == (
        "技术员已更换轴承",
        {"email": 0, "id_card": 0, "phone": 0, "name": 0},
    )
    assert redact_text("联系人：欧阳娜娜")[0] == "联系人：[NAME]"


def test_english_names_after_cues_are_redacted():
    text, counts = redact_text(
        "Reported by John Smith; tech: Mike. Technician J. Doe replaced it. Contact supplier for parts."
    )
    assert text == (
        "Reported by [NAME]; tech: [NAME]. Technician [NAME] replaced it. Contact supplier for parts."
    )
    assert counts["name"] == 3


def test_phone_formats():
    text, counts = redact_text(
        "+86 138 1234 5678, 0086-21-1234-5678, +49 89 1234567, (555) 123-4567, 021-12345678"
    )
    assert text == "[PHONE], [PHONE], [PHONE], [PHONE], [PHONE]"
    assert counts["phone"] == 5
    # order numbers and timestamps are left alone
    assert redact_text("WO 20240115103000 qty 12")[1]["phone"] == 0


def test_corpus_counts_pii_per_document():
    text = "Spindle alarm on CNC-01, contact: Li Wei at li.wei@plant.cn or 13912345678 for access."
    result = build_text_corpus(docs(("D1", text)), no_maintenance())
    row = result.frame.row(0, named=True)
    assert (
        row["text"] == "Spindle alarm on CNC-01, contact: [NAME] at [EMAIL] or [PHONE] for access."
    )
    assert row["pii_redactions"] == 3
    assert result.stats["pii_redactions"] == {"email": 1, "id_card": 0, "phone": 1, "name": 1}


# --- language and tokens ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("主轴异响，温度偏高，已更换轴承", "zh"),
        ("CNC-01 主轴异响，已更换轴承", "zh"),
        ("The hydraulic pump leaks oil at the main seal.", "en"),
        ("主轴异响，更换 spindle bearing and checked lubrication", "mixed"),
        ("Die Maschine startet nicht, Sicherung getauscht.", "de"),
        ("12345 67890", "und"),
    ],
)
def test_language_tags(text, tag):
    assert tag_text(text) == tag


def test_token_estimate_on_known_strings():
    # Hello , world ! 主 轴 异 响 123 45
    assert count_tokens("Hello, world! 主轴异响 12345") == 10
    # Spindle bearing ( SKF -6205 -> "-" and 620 5 ) replaced at 80 ° C .
    assert count_tokens("Spindle bearing (SKF-6205) replaced at 80°C.") == 14
    assert count_tokens("") == 0
