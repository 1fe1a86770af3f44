"""PII redaction: e-mail, phone numbers, Chinese ID card numbers, person names after cues, and
the terms a plant declares confidential (:mod:`corpusmill.text.redact`).

Used by the text corpus and the SFT pairs alike. Regexes run as vectorised polars
``str.count_matches`` / ``str.replace_all`` (Rust regex: no look-around, so boundaries are ASCII
word boundaries ``(?-u:\\b)``, under which a CJK character next to a digit still is a boundary).
Only the ID-card checksum needs Python, and only on rows holding an 18-character candidate.

Warnings
--------
Names are found only after a cue (报修人：, 联系人：, 联系, 技术员, 操作员, "reported by", "tech:",
"technician", "contact", ...) or when declared in ``confidential.names``. Any other name is not
detected: there is no NER model offline.
Chinese names must start with a common surname (so "技术员已更换" is left alone); a name written
straight on into the next word may lose or take one character ("技术员张三更换" -> "[NAME]更换"
works, "技术员张三丰收到" may take "张三丰" and leave "收到").
"""

from __future__ import annotations

import re

import polars as pl

from corpusmill.text.redact import (
    CONFIDENTIAL_PLACEHOLDERS,
    Rule,
    count_column,
    redact_confidential,
)

#: Redaction kinds, in the order they are applied, and what replaces each match.
PLACEHOLDERS: dict[str, str] = {
    "email": "[EMAIL]",
    "id_card": "[ID_CARD]",
    "phone": "[PHONE]",
    "name": "[NAME]",
}
PII_KINDS: tuple[str, ...] = tuple(PLACEHOLDERS)

_B = r"(?-u:\b)"  # ASCII word boundary
_SEP = r"[ -]?"

EMAIL_RE = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}" + _B

PHONE_RE = "|".join(
    [
        # +86 / 0086 mobile: +86 138 1234 5678, +86-13812345678
        rf"(?:\+|00)86{_SEP}1[3-9][0-9]{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}{_B}",
        # +86 landline: +86 21 1234 5678, +86 (0)755-1234567
        rf"(?:\+|00)86{_SEP}(?:\(0\)|0)?[1-9][0-9]{{1,2}}{_SEP}[0-9]{{3,4}}{_SEP}[0-9]{{4}}{_B}",
        # generic international with a leading +: +49 89 1234567, +1 (555) 123-4567
        rf"\+[1-9][0-9]{{0,2}}[ -]?(?:\([0-9]{{1,4}}\)[ -]?)?[0-9]{{1,4}}(?:[ .-]?[0-9]{{2,4}}){{1,4}}{_B}",
        # Chinese mobile: 13812345678, 138-1234-5678, 138 1234 5678
        rf"{_B}1[3-9][0-9]{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}{_B}",
        # Chinese landline with area code: 021-12345678, 0755-1234567
        rf"{_B}0[1-9][0-9]{{1,2}}-[0-9]{{7,8}}{_B}",
        # North American with parenthesised area code: (555) 123-4567
        rf"\([2-9][0-9]{{2}}\) ?[0-9]{{3}}[-.][0-9]{{4}}{_B}",
    ]
)

# 18-character resident ID: 6-digit area, birth date YYYYMMDD, 3-digit sequence, check character.
_ID_BODY = (
    r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
)
ID_CARD_RE = _B + _ID_BODY + _B  # polars prefilter: rows with at least one candidate
_ID_CARD_PY = re.compile(r"(?<![0-9A-Za-z_])" + _ID_BODY + r"(?![0-9A-Za-z_])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# Common Chinese surnames (compound ones first so that 欧阳 wins over 欧).
_COMPOUND_SURNAMES = (
    "欧阳|司马|诸葛|上官|东方|皇甫|令狐|慕容|尉迟|长孙|宇文|司徒|夏侯|轩辕|公孙|端木"
)
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
    "戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯"
    "纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪"
    "简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎"
    "甄丛仲虞敖巩明佘池查麻苑迟邝"
)
# Characters that end a name written straight on into the next word (verbs and particles).
_NOT_NAME = "已更检对在把将发说进报到于来和与及等的了是为去处修换查称反确现认做负维巡操接拆清调加紧复重停开关启签"
_ZH_NAME = rf"(?:[小老阿])?(?:{_COMPOUND_SURNAMES}|[{_SURNAMES}])(?:工|\p{{Han}}[\p{{Han}}--[{_NOT_NAME}]]?)"
_ZH_CUES = (
    "报修人|联系人|技术员|操作员|维修人|维修员|维修工|检修人|检修员|负责人|申请人|确认人|验收人|记录人|"
    "巡检人|巡检员|点检人|点检员|值班员|值班人|班组长|班长|工程师|填报人|审核人|处理人|姓名|"
    "联系"  # after 联系人 (leftmost-first alternation): "联系 李娜", "请联系王芳"
)
NAME_ZH_RE = rf"({_ZH_CUES})([:：]?[ \t]*){_ZH_NAME}"
_EN_CUES = (
    r"\b(?i:reported by|requested by|performed by|checked by|signed off by|tech:|technician|"
    r"operator|contact|engineer|inspector)"
)
_EN_NAME = r"(?:[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+)?|[A-Z]\.[ \t]*[A-Z][a-z]+)\b"
NAME_EN_RE = rf"({_EN_CUES})([ \t]*:?[ \t]*)(?:{_EN_NAME}|{_ZH_NAME})"

_COUNT = {kind: f"pii_{kind}" for kind in PII_KINDS}

#: Every redaction kind (PII and declared confidential terms) -> its placeholder.
ALL_PLACEHOLDERS: dict[str, str] = {**PLACEHOLDERS, **CONFIDENTIAL_PLACEHOLDERS}
#: Every redaction kind -> its per-row count column in :func:`redact_pii`'s output.
_ALL_COUNT: dict[str, str] = {
    **_COUNT, **{kind: count_column(kind) for kind in CONFIDENTIAL_PLACEHOLDERS}
}  # fmt: skip
#: A regex matching any placeholder redaction writes (``[NAME]``, ``[SUPPLIER]`` ...).
PLACEHOLDER_RE = "(?:" + "|".join(
    "\\[" + p[1:-1] + "\\]" for p in sorted(set(ALL_PLACEHOLDERS.values()))
) + ")"


def id_card_valid(number: str) -> bool:
    """Whether an 18-character Chinese resident ID number has the right check character (GB 11643)."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def _redact_id_cards_text(text: str) -> tuple[str, int]:
    n = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal n
        if id_card_valid(m.group(0)):
            n += 1
            return PLACEHOLDERS["id_card"]
        return m.group(0)

    return _ID_CARD_PY.sub(repl, text), n


def _redact_id_cards(texts: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Redact checksum-valid ID numbers; Python only touches rows with a candidate."""
    counts = pl.Series(texts.name, [0] * texts.len(), dtype=pl.Int64)
    rows = texts.str.contains(ID_CARD_RE).fill_null(False).arg_true()
    if rows.len() == 0:
        return texts, counts
    redacted = [_redact_id_cards_text(t) for t in texts.gather(rows).to_list()]
    texts = texts.clone().scatter(rows, [t for t, _ in redacted])
    counts = counts.scatter(rows, [n for _, n in redacted])
    return texts, counts


def redact_pii(
    df: pl.DataFrame,
    column: str = "text",
    *,
    rules: tuple[Rule, ...] = (),
    site_column: str | None = None,
) -> pl.DataFrame:
    """Redact PII and declared confidential terms in ``df[column]``; add one count column per kind.

    Returns ``df`` with ``column`` redacted and Int64 columns ``pii_email``, ``pii_id_card``,
    ``pii_phone``, ``pii_name`` and ``redact_<kind>`` for each confidential kind (matches replaced
    in that row; :func:`count_columns`). Kinds run in this order: e-mail first (addresses hold
    digits), then the declared ``rules`` (:func:`corpusmill.text.redact.compile_terms`; a
    declared serial or recipe may hold digit runs), ID cards before phones (an ID holds 11-digit
    runs), names after cues last (a cue followed by a phone number is not a name).
    ``site_column`` (an equipment id column) limits per-site rules to their site's rows.
    """
    c = pl.col(column)
    df = df.with_columns(
        c.str.count_matches(EMAIL_RE).cast(pl.Int64).fill_null(0).alias(_COUNT["email"])
    ).with_columns(c.str.replace_all(EMAIL_RE, PLACEHOLDERS["email"]))
    df = redact_confidential(df, column, rules, site_column=site_column)
    texts, id_counts = _redact_id_cards(df.get_column(column))
    df = df.with_columns(texts.alias(column), id_counts.alias(_COUNT["id_card"]))
    df = df.with_columns(
        c.str.count_matches(PHONE_RE).cast(pl.Int64).fill_null(0).alias(_COUNT["phone"])
    ).with_columns(c.str.replace_all(PHONE_RE, PLACEHOLDERS["phone"]))
    name = PLACEHOLDERS["name"]
    return (
        df.with_columns(
            (c.str.count_matches(NAME_ZH_RE) + c.str.count_matches(NAME_EN_RE))
            .cast(pl.Int64)
            .fill_null(0)
            .alias(_COUNT["name"])
        )
        .with_columns(c.str.replace_all(NAME_ZH_RE, "${1}${2}" + name))
        .with_columns(c.str.replace_all(NAME_EN_RE, "${1}${2}" + name))
    )


def pii_total_expr() -> pl.Expr:
    """The sum of every count column :func:`redact_pii` adds (PII and confidential kinds)."""
    return pl.sum_horizontal([pl.col(col) for col in _ALL_COUNT.values()]).cast(pl.Int64)


def count_columns() -> dict[str, str]:
    """Kind -> the name of its count column in :func:`redact_pii`'s output (every kind)."""
    return dict(_ALL_COUNT)


def placeholder_counts(df: pl.DataFrame) -> dict[str, int]:
    """Matches redacted per placeholder (``{"[NAME]": 12, "[SUPPLIER]": 3, ...}``), summed over
    the count columns of :func:`redact_pii`'s output; every placeholder is listed, zeros too."""
    out: dict[str, int] = {}
    for kind, col in _ALL_COUNT.items():
        n = int(df.get_column(col).sum()) if col in df.columns else 0
        out[ALL_PLACEHOLDERS[kind]] = out.get(ALL_PLACEHOLDERS[kind], 0) + n
    return dict(sorted(out.items()))


def redact_text(text: str, *, rules: tuple[Rule, ...] = ()) -> tuple[str, dict[str, int]]:
    """Redact one string; returns the text and the number of redactions per kind (PII kinds,
    plus the confidential kinds when ``rules`` are given)."""
    out = redact_pii(pl.DataFrame({"text": [text]}, schema={"text": pl.String}), rules=rules)
    row = out.row(0, named=True)
    kinds = _ALL_COUNT if rules else _COUNT
    return row["text"], {kind: row[col] for kind, col in kinds.items()}
