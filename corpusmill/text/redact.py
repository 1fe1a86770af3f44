"""Declared confidential terms: supplier and customer names, person names, serials, recipes and
setpoints, redacted into typed placeholders (``[SUPPLIER]``, ``[SERIAL]`` ...).

A plant declares them once under ``corpora.text_corpus.confidential`` (validated by
:class:`corpusmill.settings.ConfidentialTerms`); :func:`compile_terms` turns the block into
:class:`Rule` s and :func:`redact_confidential` applies them to a text column, counting every
match per kind.

Literal lists run as Aho-Corasick automata over the whole column (polars ``str.replace_many`` /
``str.extract_many``, leftmost match, the longest term first), not as one regex per term or one
big alternation regex: thousands of names cost one pass (``bench/redact.py`` measures it against
a ``replace_all`` per term). Word boundaries (``Lee`` must not match inside ``Leeds``) are kept by
marking both ends of every run of ASCII letters and digits, in the texts and in the terms alike,
with a separator character (``\x1f``, which cleaning removes from texts) before the scan, and
removing the marks after it. Patterns run as polars (Rust) regexes, over the rows of their site.

Warnings
--------
Texts are NFKC-normalised before redaction (:mod:`corpusmill.text.clean`), and so are the
literal terms: ``欧姆龙（中国）有限公司`` also matches as ``欧姆龙(中国)有限公司``. Patterns run
as written against the normalised text (full-width ``＝`` is ``=`` there, ``℃`` is ``°C``).
Literal terms match case-insensitively, and a term that starts or ends with a Latin letter or
digit only matches at a word boundary there (``Lee`` does not match inside ``Leeds``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from corpusmill.settings import (
    CONFIDENTIAL_PATTERNS,
    CONFIDENTIAL_TERMS,
    ConfidentialTerms,
    parse_block,
)

#: Confidential kinds in the order they are applied (literal lists first), and their placeholders.
CONFIDENTIAL_PLACEHOLDERS: dict[str, str] = {**CONFIDENTIAL_TERMS, **CONFIDENTIAL_PATTERNS}

#: Marks both ends of each ASCII letter/digit run while literal terms are matched.
MARK = "\x1f"
_WORD_RUN = r"([0-9A-Za-z]+)"


@dataclass(frozen=True)
class Rule:
    """One compiled regex: the kind it redacts, its placeholder, and the site it is limited to."""

    kind: str  # suppliers | customers | names | serials | recipes | setpoints
    placeholder: str
    pattern: str | None  # a regex (pattern kinds); None for a literal list
    site: str | None = None  # None: every row
    #: a literal list's terms, normalised, longest first (matched ASCII case-insensitively)
    terms: tuple[str, ...] = ()


def normalize_term(term: str) -> str:
    """A literal term as it reads after cleaning: NFKC, whitespace runs as one space."""
    return " ".join(unicodedata.normalize("NFKC", term).split())


def unique_terms(terms: list[str]) -> list[str]:
    """Normalised, de-duplicated terms, longest first (so that "Parker Hannifin Corp" wins over
    "Parker Hannifin" where both start)."""
    return sorted({normalize_term(t) for t in terms if t.strip()}, key=lambda t: (-len(t), t))


def mark_words(text: str) -> str:
    """``text`` with :data:`MARK` around each run of ASCII letters and digits."""
    return re.sub(_WORD_RUN, MARK + r"\1" + MARK, text)


def _rules_of(lists: Any, site: str | None) -> list[Rule]:
    rules = []
    for kind, placeholder in CONFIDENTIAL_TERMS.items():
        terms = tuple(unique_terms(getattr(lists, kind)))
        if terms:
            rules.append(Rule(kind, placeholder, None, site, terms))
    for kind, placeholder in CONFIDENTIAL_PATTERNS.items():
        patterns = getattr(lists, kind)
        if patterns:
            rules.append(Rule(kind, placeholder, "|".join(f"(?:{p})" for p in patterns), site))
    return rules


def compile_terms(block: Mapping[str, Any] | ConfidentialTerms | None) -> tuple[Rule, ...]:
    """The rules of a ``confidential`` block: global ones first, then each site's.

    Raises
    ------
    ValueError
        The block is malformed; the message names the field (``confidential.sites.suzhou.serials``)
        and the problem.
    """
    if not block:
        return ()
    terms = (
        block if isinstance(block, ConfidentialTerms)
        else parse_block(ConfidentialTerms, dict(block), "confidential")
    )  # fmt: skip
    rules = _rules_of(terms, None)
    for site in sorted(terms.sites):
        rules += _rules_of(terms.sites[site], site)
    # apply by kind (suppliers of every scope, then customers ...), global before per-site
    order = list(CONFIDENTIAL_PLACEHOLDERS)
    return tuple(sorted(rules, key=lambda r: (order.index(r.kind), r.site is not None, r.site or "")))


def count_column(kind: str) -> str:
    """The per-row count column a confidential kind's matches are counted in."""
    return f"redact_{kind}"


def _literal_redact(texts: pl.Series, rule: Rule) -> tuple[pl.Series, pl.Series]:
    """The texts with the rule's terms replaced, and the matches per text (Aho-Corasick)."""
    marked = texts.str.replace_all(_WORD_RUN, MARK + "${1}" + MARK)
    patterns = [mark_words(t) for t in rule.terms]
    opts = {"ascii_case_insensitive": True, "leftmost": True}
    n = marked.str.extract_many(patterns, **opts).list.len().cast(pl.Int64).fill_null(0)
    out = marked.str.replace_many(patterns, [rule.placeholder] * len(patterns), **opts)
    return out.str.replace_all(MARK, "", literal=True), n


def redact_confidential(
    df: pl.DataFrame, column: str, rules: tuple[Rule, ...], *, site_column: str | None = None
) -> pl.DataFrame:
    """Replace every match of ``rules`` in ``df[column]`` by its placeholder.

    Adds one Int64 column per confidential kind (:func:`count_column`): the matches replaced in
    that row. A rule limited to a site applies to rows whose ``site_column`` (an equipment id)
    starts with ``<site>/``, and to rows where it is null or absent (site unknown: redact).
    """
    per_rule: dict[str, list[str]] = {kind: [] for kind in CONFIDENTIAL_PLACEHOLDERS}
    text = df.get_column(column).clone()  # scatter below writes in place
    by_site = site_column is not None and site_column in df.columns
    for i, rule in enumerate(rules):
        rows = pl.col("_text").is_not_null()  # a null text holds nothing
        if rule.site is not None and by_site:
            s = pl.col(site_column)
            rows = s.is_null() | s.str.starts_with(f"{rule.site}/")
        if rule.terms:  # only rows holding a term (or a case variant) can match
            rows = rows & pl.col("_text").str.contains_any(list(rule.terms),
                                                           ascii_case_insensitive=True)
        frame = pl.DataFrame({"_text": text})
        if by_site:
            frame = frame.with_columns(df.get_column(site_column))
        idx = frame.select(rows.fill_null(False).arg_true()).to_series()
        counts = pl.Series(f"_redact_rule_{i}", [0] * df.height, dtype=pl.Int64)
        if idx.len():
            sub = text.gather(idx)
            if rule.pattern is None:
                replaced, n = _literal_redact(sub, rule)
            else:
                n = sub.str.count_matches(rule.pattern).cast(pl.Int64).fill_null(0)
                replaced = sub.str.replace_all(rule.pattern, rule.placeholder)
            text = text.scatter(idx, replaced)
            counts = counts.scatter(idx, n)
        df = df.with_columns(counts)
        per_rule[rule.kind].append(counts.name)
    totals = [
        (pl.sum_horizontal([pl.col(x) for x in cols]) if cols else pl.lit(0))
        .cast(pl.Int64)
        .alias(count_column(kind))
        for kind, cols in per_rule.items()
    ]
    df = df.with_columns(text.alias(column), *totals)
    return df.drop([x for cols in per_rule.values() for x in cols])


def surviving_items(texts: pl.Series, items: list[str]) -> list[str]:
    """The ``items`` (planted or known confidential strings) still found in ``texts``, as
    written or NFKC-normalised, case-insensitively; empty when redaction caught every one."""
    blob = pl.Series("t", texts, dtype=pl.String).drop_nulls().str.to_lowercase()
    left = []
    for item in items:
        forms = {item.lower(), normalize_term(item).lower()}
        if any(blob.str.contains(form, literal=True).any() for form in forms):
            left.append(item)
    return left


def redaction_report(
    redacted: Mapping[str, int], planted: Mapping[str, int]
) -> dict[str, dict[str, Any]]:
    """Precision per placeholder of a redaction run whose planted pieces are known.

    ``redacted``: matches replaced per placeholder (a manifest's ``counts.redactions``);
    ``planted``: pieces planted per placeholder (``ground_truth.json`` ``redaction.planted``).
    With recall checked separately (:func:`surviving_items` finds none of the planted pieces),
    every match beyond the planted ones is a false positive: ``false_positives = redacted -
    planted`` and ``precision = planted / redacted``; ``missed`` is ``planted - redacted`` when
    fewer matches than pieces were redacted (a lower bound on the pieces missed).
    """
    out: dict[str, dict[str, Any]] = {}
    for ph in sorted(set(redacted) | set(planted)):
        r, p = int(redacted.get(ph, 0)), int(planted.get(ph, 0))
        out[ph] = {
            "planted": p,
            "redacted": r,
            "false_positives": max(0, r - p),
            "missed": max(0, p - r),
            "precision": round(min(p, r) / r, 4) if r else None,
        }
    return out
