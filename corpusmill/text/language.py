"""Language tagging: Unicode script counts decide CJK / Latin / mixed, py3langid names Latin languages.

Why two parts: statistical identifiers are unreliable on short Chinese text (py3langid tags
"主轴异响，已更换轴承" as Wu Chinese) and have no notion of "mixed", while maintenance text from
Chinese plants routinely mixes Chinese with English terms. Script counts are exact, vectorised and
cheap; py3langid (a numpy naive-Bayes model that ships in its wheel, no download) only runs on
rows that are mostly non-CJK letters, where it is good at telling English from German or French.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

#: One CJK character carries about as much text as this many Latin letters (a Chinese word is
#: ~1.5 characters, an English word ~5 letters); used to weigh the two scripts against each other.
LATIN_LETTERS_PER_CJK = 3.0
#: CJK share (weighted) at or above which a text is CJK, at or below which it is non-CJK;
#: between the two it is "mixed".
CJK_HIGH = 0.8
CJK_LOW = 0.2
#: Below this py3langid probability a Latin-script text is "und" (or the declared language).
MIN_CONFIDENCE = 0.1
#: py3langid reads at most this many characters of a document (speed; the start is enough).
MAX_CLASSIFY_CHARS = 2000

_HAN = r"\p{Han}"
_KANA = r"[\p{Hiragana}\p{Katakana}]"
_HANGUL = r"\p{Hangul}"
_LETTER = r"\p{L}"


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    # Imported here: loading the model takes ~0.6 s and only Latin-script rows need it.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def script_tag_expr(expr: pl.Expr | str) -> pl.Expr:
    """Script-based tag: "zh" | "ja" | "ko" | "mixed" | "und", or null where a classifier must decide.

    Null means the text is mostly letters of non-CJK scripts (Latin, Cyrillic, ...).
    """
    e = pl.col(expr) if isinstance(expr, str) else expr
    han = e.str.count_matches(_HAN).cast(pl.Float64)
    kana = e.str.count_matches(_KANA).cast(pl.Float64)
    hangul = e.str.count_matches(_HANGUL).cast(pl.Float64)
    letters = e.str.count_matches(_LETTER).cast(pl.Float64)
    cjk = han + kana + hangul
    other = letters - cjk
    share = cjk / (cjk + other / LATIN_LETTERS_PER_CJK)
    return (
        pl.when(e.is_null() | (letters == 0))
        .then(pl.lit("und"))
        .when(share >= CJK_HIGH)
        .then(
            pl.when(kana >= 0.2 * cjk)
            .then(pl.lit("ja"))
            .when(hangul >= 0.5 * cjk)
            .then(pl.lit("ko"))
            .otherwise(pl.lit("zh"))
        )
        .when(share > CJK_LOW)
        .then(pl.lit("mixed"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _declared(hint: str | None) -> str | None:
    """A declared language such as "en", "EN", "en-US", "zh_CN" as its lower-case primary tag."""
    if not hint:
        return None
    primary = hint.strip().replace("_", "-").split("-")[0].lower()
    return primary if 2 <= len(primary) <= 3 and primary.isalpha() else None


def classify_latin(text: str, hint: str | None = None) -> str:
    """py3langid's label for a mostly non-CJK text; the declared language or "und" when unsure."""
    label, prob = _identifier().classify(text[:MAX_CLASSIFY_CHARS])
    if prob >= MIN_CONFIDENCE:
        return str(label)
    return _declared(hint) or "und"


def tag_language(texts: pl.Series, hints: pl.Series | None = None) -> pl.Series:
    """Tag each text: "zh", "en", "mixed", "und", or another ISO 639-1 code.

    Parameters
    ----------
    texts
        Cleaned text.
    hints
        Optional declared languages (e.g. the ``language`` column of ``documents``), used only
        when py3langid is unsure about a short Latin-script text.
    """
    frame = pl.DataFrame({"text": texts.cast(pl.String)})
    tags = frame.select(script_tag_expr("text")).to_series()
    todo = tags.is_null().arg_true()
    if todo.len():
        sub_texts = texts.gather(todo).to_list()
        sub_hints = hints.gather(todo).to_list() if hints is not None else [None] * len(sub_texts)
        labels = [classify_latin(t, h) for t, h in zip(sub_texts, sub_hints, strict=True)]
        tags = tags.clone().scatter(todo, labels)
    return tags.alias("language")


def tag_text(text: str) -> str:
    """The language tag of one string (see :func:`tag_language`)."""
    return tag_language(pl.Series([text], dtype=pl.String)).item()
