"""Declared confidential terms: supplier and customer names, person names, serials, recipes and
setpoints, redacted into typed placeholders (``[SUPPLIER]``, ``[SERIAL]`` ...).

A plant declares them once under ``corpora.text_corpus.confidential`` (validated by
:class:`corpusmill.config.blocks.ConfidentialTerms`); :func:`compile_terms` turns the block into
:class:`Rule` s and :func:`redact_confidential` applies them to a text column, counting every
match per kind. Each literal list becomes one alternation regex, longest term first (the Rust
regex engine polars runs compiles such an alternation to an Aho-Corasick automaton), so a list of
thousands of names costs one pass over the column, not one per name.

Warnings
--------
Texts are NFKC-normalised before redaction (:mod:`corpusmill.text.clean`), and so are the
literal terms: ``欧姆龙（中国）有限公司`` also matches as ``欧姆龙(中国)有限公司``. Patterns run
as written against the normalised text (full-width ``＝`` is ``=`` there, ``℃`` is ``°C``).
Literal terms match case-insensitively, and a term that starts or ends with a Latin letter or
digit only matches at a word boundary there (``Lee`` does not match inside ``Leeds``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from corpusmill.config.blocks import (
    CONFIDENTIAL_PATTERNS,
    CONFIDENTIAL_TERMS,
    ConfidentialTerms,
    parse_block,
)

#: Confidential kinds in the order they are applied (literal lists first), and their placeholders.
CONFIDENTIAL_PLACEHOLDERS: dict[str, str] = {**CONFIDENTIAL_TERMS, **CONFIDENTIAL_PATTERNS}

_B = r"(?-u:\b)"
_META = set("\\.+*?()|[]{}^$#&-~")


@dataclass(frozen=True)
class Rule:
    """One compiled regex: the kind it redacts, its placeholder, and the site it is limited to."""

    kind: str  # suppliers | customers | names | serials | recipes | setpoints
    placeholder: str
    pattern: str
    site: str | None = None  # None: every row


def normalize_term(term: str) -> str:
    """A literal term as it reads after cleaning: NFKC, whitespace runs as one space."""
    return " ".join(unicodedata.normalize("NFKC", term).split())


def _escape(term: str) -> str:
    out = "".join("\\" + ch if ch in _META else ch for ch in term)
    out = out.replace(" ", r"[ \t]+")  # cleaning collapses runs, but a tab may remain
    if term[:1].isascii() and term[:1].isalnum():
        out = _B + out
    if term[-1:].isascii() and term[-1:].isalnum():
        out = out + _B
    return out


def literal_pattern(terms: list[str]) -> str | None:
    """One case-insensitive alternation of ``terms``, longest first (so that "Parker Hannifin
    Corp" wins over "Parker Hannifin"); None for no terms."""
    unique = sorted({normalize_term(t) for t in terms if t.strip()}, key=lambda t: (-len(t), t))
    if not unique:
        return None
    return "(?i:" + "|".join(_escape(t) for t in unique) + ")"


def _rules_of(lists: Any, site: str | None) -> list[Rule]:
    rules = []
    for kind, placeholder in CONFIDENTIAL_TERMS.items():
        pattern = literal_pattern(getattr(lists, kind))
        if pattern:
            rules.append(Rule(kind, placeholder, pattern, site))
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


def redact_confidential(
    df: pl.DataFrame, column: str, rules: tuple[Rule, ...], *, site_column: str | None = None
) -> pl.DataFrame:
    """Replace every match of ``rules`` in ``df[column]`` by its placeholder.

    Adds one Int64 column per confidential kind (:func:`count_column`): the matches replaced in
    that row. A rule limited to a site applies to rows whose ``site_column`` (an equipment id)
    starts with ``<site>/``, and to rows where it is null or absent (site unknown: redact).
    """
    c = pl.col(column)
    per_rule: dict[str, list[str]] = {kind: [] for kind in CONFIDENTIAL_PLACEHOLDERS}
    for i, rule in enumerate(rules):
        n = c.str.count_matches(rule.pattern).cast(pl.Int64).fill_null(0)
        replaced = c.str.replace_all(rule.pattern, rule.placeholder)
        if rule.site is not None and site_column is not None and site_column in df.columns:
            s = pl.col(site_column)
            here = s.is_null() | s.str.starts_with(f"{rule.site}/")
            n = pl.when(here).then(n).otherwise(0)
            replaced = pl.when(here).then(replaced).otherwise(c)
        name = f"_redact_rule_{i}"
        df = df.with_columns(n.alias(name)).with_columns(replaced.alias(column))
        per_rule[rule.kind].append(name)
    totals = [
        (pl.sum_horizontal([pl.col(x) for x in cols]) if cols else pl.lit(0))
        .cast(pl.Int64)
        .alias(count_column(kind))
        for kind, cols in per_rule.items()
    ]
    return df.with_columns(totals).drop([x for cols in per_rule.values() for x in cols])


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
