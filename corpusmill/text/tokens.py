"""Token-count estimate without a tokenizer model.

No tokenizer can be downloaded at run time, so ``n_tokens`` counts pre-tokens the way GPT-2-style
BPE tokenizers split text before merging, with one token per CJK character:

- each Han, Hiragana or Katakana character is one token;
- each run of other letters (with combining marks) is one token ("bearing", "Läger");
- digits count in groups of up to three ("12345" -> 2), as cl100k-style tokenizers split them;
- each run of punctuation/symbols is one token ("--", "°", "[").

Warnings
--------
This is an estimate, deterministic and version-independent but not a real BPE count: BPE splits
rare and long words into several tokens, so real counts for English are usually somewhat higher;
for Chinese, real tokenizers use roughly 0.7-1.5 tokens per character depending on vocabulary.
"""

from __future__ import annotations

import polars as pl

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
TOKEN_RE = rf"[{_CJK}]|[\p{{L}}\p{{M}}--[{_CJK}]]+|\p{{N}}{{1,3}}|[^\s\p{{L}}\p{{M}}\p{{N}}]+"


def count_tokens_expr(expr: pl.Expr | str) -> pl.Expr:
    """Estimated token count (Int64) of a String column; null text counts 0."""
    e = pl.col(expr) if isinstance(expr, str) else expr
    return e.str.count_matches(TOKEN_RE).cast(pl.Int64).fill_null(0)


def count_tokens(text: str | None) -> int:
    """Estimated token count of one string (see :func:`count_tokens_expr`)."""
    return pl.select(count_tokens_expr(pl.lit(text, dtype=pl.String))).item()
