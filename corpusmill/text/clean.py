"""Cleaning step: Unicode NFKC, control characters, newlines, whitespace and Markdown/HTML noise.

Everything here is a polars string expression (Rust regex), so cleaning is vectorised over the
whole frame. The rules keep the structure a reader relies on (line breaks, paragraphs, list items,
table rows, heading and link *text*) and drop the markup around it.
"""

from __future__ import annotations

import polars as pl

# Line separators other than \n: CRLF, CR, VT, FF, NEL, LINE/PARAGRAPH SEPARATOR.
_LINE_BREAKS = r"\r\n?|[\x0B\x0C\x{85}\x{2028}\x{2029}]"
# C0/C1 controls except TAB and LF (the other breaks became LF above), zero-width characters,
# the BOM and the soft hyphen.
_INVISIBLE = r"[\x00-\x08\x0E-\x1F\x7F-\x{84}\x{86}-\x{9F}\x{AD}\x{200B}-\x{200D}\x{2060}\x{FEFF}]"

# Only well-known HTML tag names are stripped, so that "<P1>" or "<0.5MPa" in a spec survive.
_BLOCK_TAGS = r"(?i)</?(?:p|div|li|ul|ol|tr|table|thead|tbody|h[1-6]|blockquote|pre|section|article)(?:\s[^<>]*)?/?>"
_INLINE_TAGS = (
    r"(?i)</?(?:a|abbr|b|body|code|em|font|head|html|i|img|small|span|strong|sub|sup|td|th|u|"
    r"meta|link|hr)(?:\s[^<>]*)?/?>"
)

#: (pattern, replacement) applied in order; each is one vectorised ``str.replace_all``.
RULES: tuple[tuple[str, str], ...] = (
    (_LINE_BREAKS, "\n"),
    (_INVISIBLE, ""),
    # HTML remnants (exports from ticket systems and wikis)
    (r"(?s)<!--.*?-->", ""),
    (r"(?is)<(script|style)\b[^>]*>.*?</(?:script|style)>", ""),
    (r"(?i)<br\s*/?>", "\n"),
    (_BLOCK_TAGS, "\n"),
    (_INLINE_TAGS, ""),
    (r"&nbsp;", " "),
    (r"&lt;", "<"),
    (r"&gt;", ">"),
    (r"&quot;", '"'),
    (r"&#39;|&apos;", "'"),
    (r"&amp;", "&"),
    # Markdown: keep the words, drop the markup
    (r"!\[([^\]\n]*)\]\([^)\n]*\)", "${1}"),  # image -> its alt text
    (r"\[([^\]\n]+)\]\([^)\s]+(?:\s+\"[^\"\n]*\")?\)", "${1}"),  # link -> its text
    (r"(?m)^[ \t]*(?:```|~~~)[^\n]*(?:\n|$)", ""),  # code fences (the code stays)
    (r"(?m)^[ \t]{0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", "${1}"),  # heading -> its text
    (  # horizontal rules
        r"(?m)^[ \t]*(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|(?:=[ \t]*){3,})(?:\n|$)",
        "",
    ),
    (  # table separator rows (the rows with cells stay)
        r"(?m)^[ \t]*\|?(?:[ \t]*:?-{3,}:?[ \t]*\|)+(?:[ \t]*:?-{3,}:?[ \t]*)?\|?[ \t]*(?:\n|$)",
        "",
    ),
    (r"(?m)^([ \t]*)[*+•●▪][ \t]+", "${1}- "),  # bullets -> "- "
    (r"\*\*([^*\n]+)\*\*", "${1}"),  # bold
    (r"`([^`\n]+)`", "${1}"),  # inline code
    # whitespace: one space between words, no spaces at line ends, at most one blank line
    (r"[^\S\n]+", " "),
    (r"(?m) +$", ""),
    (r"(?m)^ +", ""),
    (r"\n{3,}", "\n\n"),
)


def clean_expr(expr: pl.Expr | str) -> pl.Expr:
    """The cleaning step as one polars expression over a String column.

    Null becomes the empty string (which the ``min_chars`` filter then drops as ``"empty"``).
    """
    e = pl.col(expr) if isinstance(expr, str) else expr
    e = e.cast(pl.String).fill_null("").str.normalize("NFKC")
    for pattern, replacement in RULES:
        e = e.str.replace_all(pattern, replacement)
    return e.str.strip_chars()


def clean_text(text: str | None) -> str:
    """Clean one string with exactly the rules of :func:`clean_expr`."""
    return pl.select(clean_expr(pl.lit(text, dtype=pl.String))).item()
