"""Instruction/response pairs mined from maintenance records (symptom -> diagnosis/action).

Each record becomes one pair: the instruction asks for a diagnosis and action given the reported
symptom and the equipment id; the response is what the technician did. Cleaning, language tagging
and PII redaction are the text corpus's own functions (:mod:`corpusmill.text`), not copies.

Records are excluded, with a reason, when the symptom or the action is missing or too short, or
when the pair repeats an earlier one word for word.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

from corpusmill.canonical import conform
from corpusmill.corpus import BuildResult
from corpusmill.text.clean import clean_expr
from corpusmill.text.dedup import exact_duplicate_of
from corpusmill.text.language import tag_language
from corpusmill.text.pii import redact_pii
from corpusmill.text.tokens import count_tokens_expr

#: Output schema of the pairs frame.
SFT_PAIRS_SCHEMA = pl.Schema(
    {
        "pair_id": pl.String(),
        "instruction": pl.String(),
        "response": pl.String(),
        "language": pl.String(),
        "record_id": pl.String(),
        "equipment_id": pl.String(),
        "maintenance_type": pl.String(),
        "n_tokens": pl.Int64(),
        "_source": pl.String(),
        "_file": pl.String(),
        "_row": pl.Int64(),
    }
)

#: Output schema of the excluded frame.
SFT_EXCLUDED_SCHEMA = pl.Schema(
    {
        "pair_id": pl.String(),
        "record_id": pl.String(),
        "equipment_id": pl.String(),
        "reason": pl.String(),
        "check": pl.String(),
        "_source": pl.String(),
        "_file": pl.String(),
        "_row": pl.Int64(),
    }
)

#: Every ``check`` an excluded pair may carry.
EXCLUSION_CHECKS = ("has_symptom_and_action", "min_chars", "exact_dedup")


@dataclass(frozen=True)
class SftConfig:
    """Options of :func:`mine_sft_pairs` (they go into the corpus manifest's config hash)."""

    redact: bool = True  # redact PII in symptom and action (corpusmill.text.pii.redact_pii)
    min_chars: int = 8  # minimum length of the cleaned symptom and of the cleaned action

    def __post_init__(self) -> None:
        if self.min_chars < 0:
            msg = f"min_chars must be >= 0, got {self.min_chars}"
            raise ValueError(msg)


#: Languages whose pairs use the Chinese template ("mixed" is Chinese with English terms).
ZH_TEMPLATE_LANGUAGES = ("zh", "mixed")

# When a record has no separate action, a cue inside its text may start one:
# "主轴异响。处理：更换轴承" / "Spindle noise. Action: replaced bearing".
_ACTION_CUES = (
    r"处理措施|处理方法|处理结果|处理过程|维修措施|维修内容|解决方法|解决措施|处理|措施|"
    r"\b(?i:corrective action|actions? taken|action|resolution|remedy|fix)"
)
_SPLIT_RE = rf"(?s)^(.*?)[ \t\n]*(?:{_ACTION_CUES})[ \t]*[:：][ \t\n]*(.*)$"


def pair_id_for(record_key: str) -> str:
    """Stable pair id: the first 16 hex characters of sha256("maintenance_records:<record_id>")."""
    return hashlib.sha256(f"maintenance_records:{record_key}".encode()).hexdigest()[:16]


def _record_keys(df: pl.DataFrame) -> pl.DataFrame:
    """A unique key per record: record_id, with "#2", "#3" for repeats in provenance order."""
    fallback = pl.concat_str(
        [pl.lit("@"), pl.col("_source").fill_null(""), pl.lit(":"), pl.col("_row").cast(pl.String)],
        ignore_nulls=True,
    )
    df = df.with_columns(pl.coalesce(pl.col("record_id"), fallback).alias("_key")).sort(
        ["_key", "_source", "_file", "_row", "text", "action"], nulls_last=True, maintain_order=True
    )
    nth = pl.int_range(pl.len()).over("_key")
    df = df.with_columns(
        pl.when(nth == 0)
        .then(pl.col("_key"))
        .otherwise(pl.concat_str([pl.col("_key"), pl.lit("#"), (nth + 1).cast(pl.String)]))
        .alias("_key")
    )
    return df.with_columns(
        pl.Series(
            "pair_id", [pair_id_for(k) for k in df.get_column("_key").to_list()], dtype=pl.String
        )
    )


def _split_symptom_action(df: pl.DataFrame) -> pl.DataFrame:
    """Clean both texts; where the action is empty, take it from an action cue inside the text."""
    df = df.with_columns(
        clean_expr("text").alias("symptom"), clean_expr("action").alias("response")
    )
    parts = pl.col("symptom").str.extract_groups(_SPLIT_RE)
    has_split = (pl.col("response") == "") & parts.struct.field("2").fill_null("").ne("")
    return df.with_columns(
        pl.when(has_split)
        .then(parts.struct.field("1"))
        .otherwise(pl.col("symptom"))
        .alias("symptom"),
        pl.when(has_split)
        .then(parts.struct.field("2"))
        .otherwise(pl.col("response"))
        .alias("response"),
    )


def _exclusion_reason(min_chars: int) -> tuple[pl.Expr, pl.Expr]:
    n_sym = pl.col("symptom").str.len_chars()
    n_act = pl.col("response").str.len_chars()
    reason = (
        pl.when(n_sym == 0)
        .then(pl.lit("no_symptom"))
        .when(n_act == 0)
        .then(pl.lit("no_action"))
        .when(n_sym < min_chars)
        .then(pl.lit("symptom_too_short"))
        .when(n_act < min_chars)
        .then(pl.lit("action_too_short"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    check = (
        pl.when((n_sym == 0) | (n_act == 0))
        .then(pl.lit("has_symptom_and_action"))
        .otherwise(pl.lit("min_chars"))
    )
    return reason, check


def _terminated(expr: pl.Expr, stop: str) -> pl.Expr:
    """The text with ``stop`` appended unless it already ends in sentence punctuation."""
    return (
        pl.when(expr.str.contains(r"[.!?。！？…]$"))
        .then(expr)
        .otherwise(pl.concat_str([expr, pl.lit(stop)]))
    )


def instruction_expr() -> pl.Expr:
    """The instruction: symptom + equipment id in a zh or en template, chosen by ``language``."""
    eq = pl.col("equipment_id")
    zh = pl.concat_str(
        [
            pl.when(eq.is_null())
            .then(pl.lit("设备"))
            .otherwise(pl.concat_str([pl.lit("设备 "), eq, pl.lit(" ")])),
            pl.lit("报告："),
            _terminated(pl.col("symptom"), "。"),
            pl.lit(" 请给出诊断和处理措施。"),
        ]
    )
    en = pl.concat_str(
        [
            pl.when(eq.is_null())
            .then(pl.lit("Equipment"))
            .otherwise(pl.concat_str([pl.lit("Equipment "), eq])),
            pl.lit(" reported: "),
            _terminated(pl.col("symptom"), "."),
            pl.lit(" Please give a diagnosis and the corrective action."),
        ]
    )
    return pl.when(pl.col("language").is_in(ZH_TEMPLATE_LANGUAGES)).then(zh).otherwise(en)


def mine_sft_pairs(
    maintenance: pl.DataFrame,
    *,
    config: SftConfig = SftConfig(),  # noqa: B008 - frozen dataclass, safe default
) -> BuildResult:
    """Mine instruction/response pairs from canonical ``maintenance_records``.

    Parameters
    ----------
    maintenance
        A frame with the canonical maintenance_records schema (missing columns are null).
    config
        See :class:`SftConfig`.

    Returns
    -------
    BuildResult
        ``frame`` (the pairs) with :data:`SFT_PAIRS_SCHEMA`, ``excluded`` with :data:`SFT_EXCLUDED_SCHEMA`
        (reason ``no_symptom`` | ``no_action`` | ``symptom_too_short`` | ``action_too_short`` |
        ``exact_duplicate of <pair_id>``, naming the pair of the lowest record id with the same
        instruction and response), both sorted by record_id then pair_id.
    """
    min_chars = config.min_chars
    df = _record_keys(conform(maintenance, "maintenance_records"))
    df = _split_symptom_action(df)

    reason, check = _exclusion_reason(min_chars)
    df = df.with_columns(reason.alias("_reason"), check.alias("_check"))
    excluded = [df.filter(pl.col("_reason").is_not_null())]
    df = df.filter(pl.col("_reason").is_null())

    both = pl.concat_str([pl.col("symptom"), pl.col("response")], separator="\n")
    df = df.with_columns(tag_language(df.select(both).to_series()))
    if config.redact:
        df = redact_pii(df, "symptom")
        df = redact_pii(df, "response")

    df = df.with_columns(instruction_expr().alias("instruction"))
    df = df.with_columns(
        (count_tokens_expr("instruction") + count_tokens_expr("response")).alias("n_tokens"),
        pl.concat_str([pl.col("instruction"), pl.col("response")], separator="\x00").alias("_pair"),
    )
    # Exact duplicates keep the pair of the lowest record id; the reason names its pair_id.
    df = df.with_columns(exact_duplicate_of(df, key="_pair", id_col="_key").alias("_dup"))
    dups = df.filter(pl.col("_dup").is_not_null())
    dups = dups.with_columns(
        pl.Series(
            "_reason",
            [f"exact_duplicate of {pair_id_for(k)}" for k in dups.get_column("_dup").to_list()],
            dtype=pl.String,
        ),
        pl.lit("exact_dedup").alias("_check"),
    )
    excluded.append(dups)
    df = df.filter(pl.col("_dup").is_null())

    order = ["record_id", "pair_id"]
    pairs = (
        df.select(list(SFT_PAIRS_SCHEMA)).cast(dict(SFT_PAIRS_SCHEMA)).sort(order, nulls_last=True)
    )
    excl = (
        pl.concat(
            [
                e.select(
                    "pair_id",
                    "record_id",
                    "equipment_id",
                    pl.col("_reason").alias("reason"),
                    pl.col("_check").alias("check"),
                    "_source",
                    "_file",
                    "_row",
                )
                for e in excluded
            ],
            how="vertical",
        )
        .cast(dict(SFT_EXCLUDED_SCHEMA))
        .sort(order, nulls_last=True)
    )
    stats = {"in": maintenance.height, "pairs": pairs.height, "excluded": excl.height}
    return BuildResult(frame=pairs, excluded=excl, stats=stats)
