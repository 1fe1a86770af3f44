"""Text quality filters with reasons (after Gopher / datatrove), vectorised polars expressions.

Each filter is an expression giving a reason string (or null to keep) per row of a frame with a
``text`` column (and ``language`` for the language filter). :func:`build_text_corpus` applies them
in the order of :data:`FILTER_CHECKS` after language tagging; every drop lands in
``text_corpus_excluded`` with its check code.

- ``repetition``    duplicate-line fraction above ``max_dup_line_frac`` (Gopher: 0.30)
- ``repetition``    also: the most frequent token 2-gram's share of all 2-grams above
                    ``max_top_2gram_frac`` (Gopher: 0.20), for texts with at least 10 2-grams
                    (tokens as in :mod:`corpusmill.text.tokens`: one per CJK character)
- ``symbol_ratio``  share of characters that are neither letters nor whitespace (digits and
                    symbols) above ``max_symbol_digit_ratio``
- ``boilerplate``   share of lines matching a declared boilerplate pattern above
                    ``max_boilerplate_frac``
- ``language``      language tag not in the declared ``languages`` (empty: every language kept)
"""

from __future__ import annotations

import re

import polars as pl

from corpusmill.text.tokens import TOKEN_RE

#: Texts with fewer token 2-grams than this are not judged by the top-2-gram share.
MIN_2GRAMS = 10

#: Check codes, in the order the filters run.
FILTER_CHECKS = ("repetition", "symbol_ratio", "boilerplate", "language")


def validate_patterns(patterns: tuple[str, ...], *, where: str) -> None:
    """Refuse a pattern that does not compile, naming it."""
    for p in patterns:
        try:
            re.compile(p)
        except re.error as e:
            msg = f"{where}: bad regex {p!r}: {e}; fix or remove it"
            raise ValueError(msg) from None


def _lines(column: str) -> pl.Expr:
    """Non-empty, stripped lines of ``column``."""
    return (
        pl.col(column)
        .str.split("\n")
        .list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
    )


def dup_line_frac_expr(column: str = "text") -> pl.Expr:
    """Fraction of non-empty lines that repeat an earlier line of the same text (0 for none)."""
    lines = _lines(column)
    n = lines.list.len()
    return (
        pl.when(n > 0)
        .then((n - lines.list.n_unique()).cast(pl.Float64) / n)
        .otherwise(0.0)
    )


def top_2gram_frac(texts: pl.Series) -> pl.Series:
    """Share of the most frequent token 2-gram among a text's token 2-grams (0 below MIN_2GRAMS).

    Vectorised as one exploded frame and two group-bys (not a per-row list evaluation).
    """
    tokens = pl.DataFrame({"tokens": texts.str.extract_all(TOKEN_RE)}).with_row_index("_i")
    long = tokens.explode("tokens").drop_nulls("tokens")
    grams = long.with_columns(pl.col("tokens").shift(-1).over("_i").alias("_next")).drop_nulls(
        "_next"
    )
    per_row = (
        grams.group_by("_i", "tokens", "_next")
        .len()
        .group_by("_i")
        .agg(pl.col("len").max().alias("_top"), pl.col("len").sum().alias("_n"))
    )
    out = tokens.select("_i").join(per_row, on="_i", how="left").sort("_i")
    frac = pl.when(pl.col("_n") >= MIN_2GRAMS).then(pl.col("_top") / pl.col("_n")).otherwise(0.0)
    return out.select(frac.cast(pl.Float64).alias("top_2gram_frac")).to_series()


def symbol_digit_ratio_expr(column: str = "text") -> pl.Expr:
    """Share of non-whitespace characters that are not letters (digits, punctuation, symbols)."""
    c = pl.col(column)
    visible = c.str.count_matches(r"\S")
    other = c.str.count_matches(r"[^\s\p{L}\p{M}]")
    return pl.when(visible > 0).then(other.cast(pl.Float64) / visible).otherwise(0.0)


def boilerplate_frac_expr(patterns: tuple[str, ...], column: str = "text") -> pl.Expr:
    """Share of non-empty lines matching any of ``patterns`` (one compiled alternation)."""
    if not patterns:
        return pl.lit(0.0)
    alternation = "|".join(f"(?:{p})" for p in patterns)
    lines = _lines(column)
    n = lines.list.len()
    hits = lines.list.eval(pl.element().str.contains(alternation)).list.sum()
    return pl.when(n > 0).then(hits.cast(pl.Float64) / n).otherwise(0.0)


def filter_reasons(
    *,
    max_dup_line_frac: float,
    max_top_2gram_frac: float,
    max_symbol_digit_ratio: float,
    boilerplate_patterns: tuple[str, ...],
    max_boilerplate_frac: float,
    languages: tuple[str, ...],
) -> dict[str, pl.Expr]:
    """Check code -> reason expression (null keeps the row), in :data:`FILTER_CHECKS` order."""
    dup = dup_line_frac_expr()
    top = pl.col("_top_2gram_frac")  # added by the caller with top_2gram_frac()
    sym = symbol_digit_ratio_expr()
    boiler = boilerplate_frac_expr(boilerplate_patterns)
    null = pl.lit(None, dtype=pl.String)

    def over(value: pl.Expr, limit: float, label: str) -> pl.Expr:
        text = pl.concat_str(
            [pl.lit(f"{label} "), value.round(2).cast(pl.String), pl.lit(f" > {limit}")]
        )
        return pl.when(value > limit).then(text).otherwise(null)

    lang = (
        pl.when(~pl.col("language").is_in(list(languages)))
        .then(pl.concat_str([pl.lit("language "), pl.col("language").fill_null("null"),
                             pl.lit(f" not in {list(languages)}")]))
        .otherwise(null)
        if languages
        else null
    )  # fmt: skip
    return {
        "repetition": pl.coalesce(
            over(dup, max_dup_line_frac, "dup_line_frac"),
            over(top, max_top_2gram_frac, "top_2gram_frac"),
        ),
        "symbol_ratio": over(sym, max_symbol_digit_ratio, "symbol_digit_ratio"),
        "boilerplate": over(boiler, max_boilerplate_frac, "boilerplate_frac")
        if boilerplate_patterns
        else null,
        "language": lang,
    }
