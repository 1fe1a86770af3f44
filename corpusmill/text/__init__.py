"""Text curation: clean, tag language, redact PII, deduplicate and count tokens.

The public entry point is :func:`build_text_corpus`; the step functions are importable for reuse
(the SFT pair miner uses the same cleaning, language tagging and PII redaction).
"""

from corpusmill.text.clean import clean_expr, clean_text
from corpusmill.text.corpus import (
    TEXT_CORPUS_SCHEMA,
    TEXT_EXCLUDED_SCHEMA,
    TextConfig,
    build_text_corpus,
)
from corpusmill.text.language import tag_language, tag_text
from corpusmill.text.pii import PII_KINDS, PLACEHOLDERS, id_card_valid, redact_pii, redact_text
from corpusmill.text.tokens import count_tokens, count_tokens_expr

__all__ = [
    "PII_KINDS",
    "PLACEHOLDERS",
    "TEXT_CORPUS_SCHEMA",
    "TEXT_EXCLUDED_SCHEMA",
    "TextConfig",
    "build_text_corpus",
    "clean_expr",
    "clean_text",
    "count_tokens",
    "count_tokens_expr",
    "id_card_valid",
    "redact_pii",
    "redact_text",
    "tag_language",
    "tag_text",
]
