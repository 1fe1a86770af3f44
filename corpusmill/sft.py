"""Instruction/response pairs mined from maintenance records (symptom -> diagnosis/action).

A record makes one diagnosis pair when its type makes pairs (``record_types``: corrective work
does, routine preventive and inspection work does not), it has a symptom and an action (the
action column, or an action split off the text by ``split_patterns``), the action reports a
finding (``no_finding_patterns``: "No findings", "正常，无异常" ... make no pair), and both are long
enough. The pair is rendered from its type's template (``templates``: a system and a user prompt
per language) into ``instruction``/``response`` and into ``messages``, the chat format trainers
read (``[{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", ...}]``).

Cleaning, language tagging, PII and confidential-term redaction and MinHash near-duplicate
detection are the text corpus's own functions (:mod:`corpusmill.text`), not copies.

Placeholders never reach a prompt: a clause of the symptom that holds one after redaction
("报修人：[NAME] [PHONE]", "tech: [NAME]") is left out of the prompt; a symptom that is nothing
but such clauses leaves too little, and the record is excluded (``placeholder_free_prompt``).
The response keeps its placeholders (the model learns that a name was there, not the name).

Every record that makes no pair is in ``excluded`` with a reason and a check; duplicates name the
pair they repeat (the one of the lowest record id).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from corpusmill.canonical import conform
from corpusmill.corpus import BuildResult
from corpusmill.settings import SftTemplates, check_text_regex, parse_block
from corpusmill.text.clean import clean_expr
from corpusmill.text.corpus import near_duplicate_reason
from corpusmill.text.dedup import exact_duplicate_of, near_duplicates
from corpusmill.text.language import tag_language
from corpusmill.text.pii import PLACEHOLDER_RE, placeholder_counts, redact_pii
from corpusmill.text.redact import compile_terms
from corpusmill.text.tokens import count_tokens_expr

MESSAGE = pl.Struct({"role": pl.String(), "content": pl.String()})

#: Output schema of the pairs frame.
SFT_PAIRS_SCHEMA = pl.Schema(
    {
        "pair_id": pl.String(),
        "instruction": pl.String(),
        "response": pl.String(),
        "messages": pl.List(MESSAGE),
        "template": pl.String(),
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
EXCLUSION_CHECKS = (
    "record_type",
    "has_symptom_and_action",
    "has_finding",
    "min_chars",
    "placeholder_free_prompt",
    "exact_dedup",
    "near_dedup",
)

#: Languages whose pairs use the Chinese template ("mixed" is Chinese with English terms).
ZH_TEMPLATE_LANGUAGES = ("zh", "mixed")

#: The ``record_types`` key for any other type, and for records without one.
ANY_TYPE = "*"
#: The ``record_types`` value of a type that makes no pairs.
SKIP = "skip"

DEFAULT_RECORD_TYPES: dict[str, str] = {
    "corrective": "diagnosis",
    "preventive": SKIP,  # scheduled work: no symptom to diagnose
    "inspection": SKIP,  # routine checks: "All checks OK"
    ANY_TYPE: "diagnosis",
}

DEFAULT_TEMPLATES: dict[str, dict[str, dict[str, str]]] = {
    "diagnosis": {
        "system": {
            "zh": "你是工厂设备维修专家。根据设备报告的故障现象，给出诊断和处理措施。",
            "en": "You are a maintenance expert for factory equipment. Given the symptom a "
            "machine reported, give the diagnosis and the corrective action.",
        },
        "user": {
            "zh": "设备 {equipment} 报告：{symptom} 请给出诊断和处理措施。",
            "en": "Equipment {equipment} reported: {symptom} Please give a diagnosis and the "
            "corrective action.",
        },
    }
}

# When a record has no separate action, a cue inside its text may start one:
# "主轴异响。处理：更换轴承" / "Spindle noise. Action: replaced bearing".
_ACTION_CUES = (
    r"处理措施|处理方法|处理结果|处理过程|维修措施|维修内容|解决方法|解决措施|处理|措施|"
    r"\b(?i:corrective action|actions? taken|action|resolution|remedy|fix)"
)
_DEFECT = (
    r"(?i:broken|missing|leak(?:s|ing|ed)?|crack(?:s|ed)?|damaged|worn|loose|blocked|u/s|faulty|"
    r"failed|seized|bent|torn|burst|split|noisy|overheating)"
)
_REPAIR = (
    r"(?i:replace[sd]?|repair(?:s|ed)?|change(?:d)?(?:[ -]?out)?|refit(?:ted)?|fit(?:ted)?|"
    r"weld(?:ed)?|tighten(?:ed)?|install(?:ed)?|rebuil[dt]|swap(?:ped)?|re-?seal(?:ed)?)"
)
DEFAULT_SPLIT_PATTERNS: tuple[str, ...] = (
    # a cue: "主轴异响。处理：更换轴承", "Motor tripped. Action: reset the breaker"
    rf"(?s)^(?P<symptom>.*?)[ \t\n]*(?:{_ACTION_CUES})[ \t]*[:：][ \t\n]*(?P<action>.*)$",
    # a terse work order that names the defect and the repair: "REPLACE BROKEN BUCKET TOOTH"
    # (symptom "BROKEN BUCKET TOOTH", action the whole text)
    rf"^(?P<action>{_REPAIR}\b[ \t]+(?P<symptom>(?:.*[ \t/])?{_DEFECT}\b.*))$",
    # the defect first, then the repair: "CENTRIFUGE HOSE LEAKING - REPLACE HOSE"
    rf"^(?P<symptom>.*\b{_DEFECT}\b.*?)[ \t]*[-.,;:]+[ \t]*(?P<action>{_REPAIR}\b.*)$",
)

DEFAULT_NO_FINDING_PATTERNS: tuple[str, ...] = (
    (r"^(?i:no findings?|nothing found|nothing abnormal|all (?:checks|items) (?:ok|passed|normal)|"
    r"no (?:faults?|defects?|issues?|problems?|abnormalit(?:y|ies)) found)(?-u:\b)"),
    r"^(?:正常|各项检查正常|无异常|未见异常|未发现异常|检查正常)",
)


@dataclass(frozen=True)
class SftConfig:
    """Options of :func:`mine_sft_pairs` (they go into the corpus manifest's config hash)."""

    redact: bool = True  # redact PII and confidential terms in symptom and action
    min_chars: int = 8  # minimum length of the cleaned symptom and of the cleaned action
    # maintenance_type -> template name, or "skip"; "*" is any other type and untyped records
    record_types: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RECORD_TYPES))
    # template name -> {system: {zh, en}, user: {zh, en}}; user prompts hold {symptom}, {equipment}
    templates: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    # regexes with groups (?P<symptom>) and (?P<action>), tried in order on a record's text when
    # it has no action
    split_patterns: tuple[str, ...] = DEFAULT_SPLIT_PATTERNS
    # regexes on the cleaned action: a match is a routine "no findings" record (no pair)
    no_finding_patterns: tuple[str, ...] = DEFAULT_NO_FINDING_PATTERNS
    near_dup_threshold: float = 0.8  # MinHash Jaccard estimate of symptom + response
    num_perm: int = 128
    shingle: int = 5
    seed: int = 1
    # corpusmill.settings.ConfidentialTerms; from corpora.text_corpus unless given here
    confidential: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.min_chars < 0:
            msg = f"min_chars must be >= 0, got {self.min_chars}"
            raise ValueError(msg)
        if not 0.0 < self.near_dup_threshold <= 1.0 or self.shingle < 1:
            msg = (
                f"need 0 < near_dup_threshold <= 1 and shingle >= 1, got "
                f"{self.near_dup_threshold} and {self.shingle}"
            )
            raise ValueError(msg)
        parse_block(
            SftTemplates, {"record_types": self.record_types, "templates": self.templates}, "sft"
        )
        for name, patterns in (("split_patterns", self.split_patterns),
                               ("no_finding_patterns", self.no_finding_patterns)):  # fmt: skip
            for i, p in enumerate(patterns):
                try:
                    check_text_regex(p)
                except ValueError as e:
                    raise ValueError(f"{name}[{i}]: {e}") from None
        for i, p in enumerate(self.split_patterns):
            groups = set(pl.Series([""]).str.extract_groups(p).struct.fields)
            if not {"symptom", "action"} <= groups:
                msg = f"split_patterns[{i}]: {p!r} needs named groups (?P<symptom>...) and (?P<action>...)"
                raise ValueError(msg)
        compile_terms(self.confidential)

    @property
    def template_spec(self) -> SftTemplates:
        return SftTemplates.model_validate(
            {"record_types": self.record_types, "templates": self.templates}
        )


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


def _split_symptom_action(df: pl.DataFrame, patterns: tuple[str, ...]) -> pl.DataFrame:
    """Clean both texts; where the action is empty, split the text by the first pattern that
    matches with a non-empty action."""
    df = df.with_columns(
        clean_expr("text").alias("symptom"), clean_expr("action").alias("response")
    )
    symptom, response = pl.col("symptom"), pl.col("response")
    for p in patterns:
        parts = pl.col("symptom").str.extract_groups(p)
        sym = parts.struct.field("symptom").fill_null("").str.strip_chars(" \t\n/-.,;:")
        act = parts.struct.field("action").fill_null("").str.strip_chars()
        take = (pl.col("response") == "") & (act != "")
        df = df.with_columns(
            pl.when(take).then(sym).otherwise(symptom).alias("symptom"),
            pl.when(take).then(act).otherwise(response).alias("response"),
        )
    return df


def _template_of(record_types: dict[str, str]) -> pl.Expr:
    """maintenance_type -> its template name ("skip" for types that make no pairs; null when
    the type is not declared and there is no "*")."""
    typ = pl.col("maintenance_type")
    fallback = record_types.get(ANY_TYPE)
    known = {k: v for k, v in record_types.items() if k != ANY_TYPE}
    return (
        typ.replace_strict(known, default=fallback, return_dtype=pl.String)
        if known else pl.lit(fallback, dtype=pl.String)
    )  # fmt: skip


def _first_reason(config: SftConfig) -> tuple[pl.Expr, pl.Expr]:
    """The first rule a record breaks (null: it makes a pair) and that rule's check."""
    n_sym = pl.col("symptom").str.len_chars()
    n_act = pl.col("response").str.len_chars()
    no_finding = pl.any_horizontal(
        [pl.col("response").str.contains(p) for p in config.no_finding_patterns] or [pl.lit(False)]
    )
    rules = [
        (pl.col("template") == SKIP, "routine_record_type", "record_type"),
        (pl.col("template").is_null(), "undeclared_record_type", "record_type"),
        (n_sym == 0, "no_symptom", "has_symptom_and_action"),
        (n_act == 0, "no_action", "has_symptom_and_action"),
        (no_finding, "no_finding", "has_finding"),
        (n_sym < config.min_chars, "symptom_too_short", "min_chars"),
        (n_act < config.min_chars, "action_too_short", "min_chars"),
    ]
    reason: Any = pl
    check: Any = pl
    for cond, why, chk in rules:
        reason = reason.when(cond).then(pl.lit(why))
        check = check.when(cond).then(pl.lit(chk))
    return reason.otherwise(pl.lit(None, dtype=pl.String)), check.otherwise(
        pl.lit(None, dtype=pl.String)
    )


_SEPS = ",;，；。!?！？\n"
_CLAUSE_CHARS = rf"(?:[^{_SEPS}.]|\.[^\s])*"
#: A clause (between separators) that holds a placeholder, with its trailing separator.
PLACEHOLDER_CLAUSE_RE = (
    rf"[ \t]*{_CLAUSE_CHARS}{PLACEHOLDER_RE}{_CLAUSE_CHARS}(?:[{_SEPS}]|\.(\s|$))?"
)


def prompt_symptom_expr(column: str = "symptom") -> pl.Expr:
    """The symptom without the clauses that hold a placeholder ("主轴异响,报修人:[NAME] [PHONE]"
    -> "主轴异响"), trimmed of the separators left at its ends."""
    c = pl.col(column)
    kept = (
        c.str.replace_all(PLACEHOLDER_CLAUSE_RE, "${1}")  # keeps the space after a full stop
        .str.strip_chars(" \t" + _SEPS)
        .str.replace_all(r"[ \t]{2,}", " ")
    )
    return pl.when(c.str.contains(PLACEHOLDER_RE)).then(kept).otherwise(c)


def _terminated(expr: pl.Expr, stop: str) -> pl.Expr:
    """The text with ``stop`` appended unless it already ends in sentence punctuation."""
    return (
        pl.when(expr.str.contains(r"[.!?。！？…]$"))
        .then(expr)
        .otherwise(pl.concat_str([expr, pl.lit(stop)]))
    )


def _render(text: str, *, stop: str) -> pl.Expr:
    """A user template as an expression: ``{symptom}`` (terminated with ``stop``) and
    ``{equipment}`` filled from the row; a null equipment id leaves its field out."""
    parts = re.split(r"(\{symptom\}|\{equipment\})", text)
    exprs = []
    for part in parts:
        if part == "{symptom}":
            exprs.append(_terminated(pl.col("symptom"), stop))
        elif part == "{equipment}":
            exprs.append(pl.col("equipment_id").fill_null("\x00"))  # marks a missing id
        elif part:
            exprs.append(pl.lit(part))
    return (
        pl.concat_str(exprs)
        .str.replace_all(r"(\p{Han})[ \t]*\x00[ \t]*(\p{Han})", "${1}${2}")  # 设备报告
        .str.replace_all(r"[ \t]*\x00", "")  # Equipment reported
        .str.replace_all(r"[ \t]{2,}", " ")
        .str.strip_chars()
    )


def _prompts(spec: SftTemplates) -> tuple[pl.Expr, pl.Expr]:
    """(system, user) expressions chosen by the row's ``template`` and ``language``."""
    zh = pl.col("language").is_in(ZH_TEMPLATE_LANGUAGES)
    system: Any = pl
    user: Any = pl
    for name, t in spec.templates.items():
        for lang, is_lang, stop in (("zh", zh, "。"), ("en", ~zh, ".")):
            cond = (pl.col("template") == name) & is_lang
            system = system.when(cond).then(pl.lit(t.system[lang]))
            user = user.when(cond).then(_render(t.user[lang], stop=stop))
    none = pl.lit(None, dtype=pl.String)
    return system.otherwise(none), user.otherwise(none)


def messages_expr() -> pl.Expr:
    """``[{role: system}, {role: user}, {role: assistant}]`` from ``_system``, ``instruction``
    and ``response``."""
    return pl.concat_list(
        [
            pl.struct(pl.lit(role).alias("role"), pl.col(col).alias("content"))
            for role, col in (("system", "_system"), ("user", "instruction"),
                              ("assistant", "response"))
        ]
    )


def _dropped(df: pl.DataFrame, reasons: list[str], check: str) -> pl.DataFrame:
    return df.with_columns(
        pl.Series("_reason", reasons, dtype=pl.String), pl.lit(check).alias("_check")
    )


def mine_sft_pairs(
    maintenance: pl.DataFrame,
    *,
    config: SftConfig = SftConfig(),
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
        ``frame`` (the pairs) with :data:`SFT_PAIRS_SCHEMA`, ``excluded`` with
        :data:`SFT_EXCLUDED_SCHEMA`, both sorted by record_id then pair_id. Reasons, in the order
        they are tried: ``routine_record_type`` | ``undeclared_record_type`` (check
        ``record_type``), ``no_symptom`` | ``no_action`` (``has_symptom_and_action``),
        ``no_finding`` (``has_finding``), ``symptom_too_short`` | ``action_too_short``
        (``min_chars``), ``symptom_only_placeholders`` (``placeholder_free_prompt``),
        ``exact_duplicate of <pair_id>`` (``exact_dedup``) and ``near_duplicate of <pair_id>
        (jaccard~0.87)`` (``near_dedup``), naming the kept pair of the lowest record id.
        ``stats["redactions"]`` counts the matches redacted per placeholder.
    """
    spec = config.template_spec
    df = _record_keys(conform(maintenance, "maintenance_records"))
    df = _split_symptom_action(df, config.split_patterns)
    df = df.with_columns(_template_of(config.record_types).alias("template"))

    reason, check = _first_reason(config)
    df = df.with_columns(reason.alias("_reason"), check.alias("_check"))
    excluded = [df.filter(pl.col("_reason").is_not_null())]
    df = df.filter(pl.col("_reason").is_null())

    both = pl.concat_str([pl.col("symptom"), pl.col("response")], separator="\n")
    df = df.with_columns(tag_language(df.select(both).to_series()))
    redactions: dict[str, int] = {}
    if config.redact:
        rules = compile_terms(config.confidential)
        for col in ("symptom", "response"):
            df = redact_pii(df, col, rules=rules, site_column="equipment_id")
            for ph, n in placeholder_counts(df).items():
                redactions[ph] = redactions.get(ph, 0) + n

    # placeholders stay out of prompts: drop the clauses that hold one
    df = df.with_columns(prompt_symptom_expr().alias("_prompt_symptom"))
    short = (pl.col("_prompt_symptom") != pl.col("symptom")) & (
        pl.col("_prompt_symptom").str.len_chars() < max(config.min_chars, 1)
    )
    excluded.append(
        df.filter(short).with_columns(
            pl.lit("symptom_only_placeholders").alias("_reason"),
            pl.lit("placeholder_free_prompt").alias("_check"),
        )
    )
    df = df.filter(~short).with_columns(pl.col("_prompt_symptom").alias("symptom"))

    system, user = _prompts(spec)
    df = df.with_columns(system.alias("_system"), user.alias("instruction"))
    df = df.with_columns(
        messages_expr().alias("messages"),
        (count_tokens_expr("instruction") + count_tokens_expr("response")).alias("n_tokens"),
        pl.concat_str([pl.col("instruction"), pl.col("response")], separator="\x00").alias("_pair"),
    )
    # Exact duplicates keep the pair of the lowest record id; the reason names its pair_id.
    df = df.with_columns(exact_duplicate_of(df, key="_pair", id_col="_key").alias("_dup"))
    dups = df.filter(pl.col("_dup").is_not_null())
    excluded.append(
        _dropped(dups, [f"exact_duplicate of {pair_id_for(k)}" for k in dups["_dup"]], "exact_dedup")
    )
    df = df.filter(pl.col("_dup").is_null())

    # Near duplicates (MinHash LSH over the prompt's symptom + the response: the template's own
    # words would make any two short pairs look alike), greedy in record-key order.
    near = near_duplicates(
        df.get_column("_key").to_list(),
        df.select(pl.concat_str(["symptom", "response"], separator="\n")).to_series().to_list(),
        threshold=config.near_dup_threshold,
        num_perm=config.num_perm,
        shingle=config.shingle,
        seed=config.seed,
    )
    is_near = pl.col("_key").is_in(list(near))
    nears = df.filter(is_near)
    excluded.append(
        _dropped(
            nears,
            [near_duplicate_reason(pair_id_for(near[k][0]), near[k][1]) for k in nears["_key"]],
            "near_dedup",
        )
    )
    df = df.filter(~is_near)

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
                ).cast(dict(SFT_EXCLUDED_SCHEMA))
                for e in excluded
            ],
            how="vertical",
        )
        .sort(order, nulls_last=True)
    )
    stats: dict[str, Any] = {"in": maintenance.height, "pairs": pairs.height, "excluded": excl.height}
    stats["excluded_by_reason"] = {
        str(k): v
        for k, v in excl.group_by(pl.col("reason").str.extract(r"^([a-z_]+)")).len().sort("reason").iter_rows()
    }
    stats["redactions"] = dict(sorted(redactions.items()))
    return BuildResult(frame=pairs, excluded=excl, stats=stats)
