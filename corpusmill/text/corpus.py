"""``build_text_corpus``: documents and maintenance records -> one cleaned, deduplicated text corpus.

Steps, in order (each drop carries a reason and lands in ``excluded``; stats are collected as the
frame flows through):

1. gather   documents and maintenance records (text = description + action) with stable doc ids
2. clean    NFKC, control characters, whitespace, Markdown/HTML noise   (:mod:`corpusmill.text.clean`)
3. filter   ``min_chars``: "empty" / "too_short"
4. language zh / en / mixed / und / ...                                 (:mod:`corpusmill.text.language`)
4b. quality repetition, symbol/digit ratio, boilerplate, language set   (:mod:`corpusmill.text.filters`)
5. redact   e-mail, phone, ID card, names after cues                    (:mod:`corpusmill.text.pii`)
            and the declared confidential terms                         (:mod:`corpusmill.text.redact`)
6. exact    sha256 of the text: "exact_duplicate of <doc_id>"
7. near     MinHash LSH: "near_duplicate of <doc_id> (jaccard~0.87)"
8. tokens   exact counts for a named tokenizer: the declared tokenizer.json, else BPE trained
            on the corpus (``BuildResult.files["tokenizer"]``)       (:mod:`corpusmill.text.tokens`)

Pass ``timings={}`` to get the seconds each stage took (:data:`STAGES`); they stay out of ``stats``,
which depend only on the input and config.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from corpusmill.canonical import conform
from corpusmill.corpus import BuildResult
from corpusmill.text.clean import clean_expr
from corpusmill.text.filters import (
    FILTER_CHECKS,
    filter_reasons,
    top_2gram_frac,
    validate_patterns,
)
from corpusmill.text.dedup import exact_duplicate_of, near_duplicates, sha256_series
from corpusmill.text.language import tag_language
from corpusmill.text.pii import (
    PII_KINDS,
    count_columns,
    pii_total_expr,
    placeholder_counts,
    redact_pii,
)
from corpusmill.text.redact import compile_terms
from corpusmill.text.tokens import DEFAULT_VOCAB_SIZE, load_tokenizer, train_bpe

#: Schema of the corpus (``BuildResult.frame``).
TEXT_CORPUS_SCHEMA = pl.Schema(
    {
        "doc_id": pl.String(),
        "source_table": pl.String(),
        "source_id": pl.String(),
        "doc_type": pl.String(),
        "language": pl.String(),
        "text": pl.String(),
        "n_chars": pl.Int64(),
        "n_tokens": pl.Int64(),
        "sha256": pl.String(),
        "near_dup_cluster": pl.String(),
        "pii_redactions": pl.Int64(),
        "equipment_id": pl.String(),
        "_source": pl.String(),
        "_file": pl.String(),
        "_row": pl.Int64(),
    }
)

#: Schema of the excluded documents (``BuildResult.excluded``).
TEXT_EXCLUDED_SCHEMA = pl.Schema(
    {
        "doc_id": pl.String(),
        "source_table": pl.String(),
        "source_id": pl.String(),
        "reason": pl.String(),
        "check": pl.String(),
        "_source": pl.String(),
        "_file": pl.String(),
        "_row": pl.Int64(),
    }
)

#: Every ``check`` an excluded document may carry.
EXCLUSION_CHECKS = ("min_chars", *FILTER_CHECKS, "exact_dedup", "near_dedup")

#: doc_type given to maintenance records turned into documents.
MAINTENANCE_DOC_TYPE = "maintenance_record"


@dataclass(frozen=True)
class TextConfig:
    """Options of :func:`build_text_corpus` (they go into the corpus manifest's config hash)."""

    min_chars: int = 20
    near_dup_threshold: float = 0.8  # Jaccard estimate via MinHash LSH
    num_perm: int = 128
    shingle: int = 5  # character n-grams (works for Chinese and English alike)
    seed: int = 1
    redact: bool = True
    # quality filters (corpusmill.text.filters); a limit of 1.0 turns a ratio filter off
    max_dup_line_frac: float = 0.3  # Gopher's duplicate-line limit
    max_top_2gram_frac: float = 0.2  # Gopher's top 2-gram limit
    max_symbol_digit_ratio: float = 0.5
    boilerplate_patterns: tuple[str, ...] = ()  # regexes matched against each line
    max_boilerplate_frac: float = 0.5
    languages: tuple[str, ...] = ()  # declared language tags kept; empty keeps every language
    # declared confidential terms (corpusmill.settings.ConfidentialTerms): supplier, customer
    # and person names, serial/recipe/setpoint patterns, global or per site; sft_pairs reads the
    # same block unless it declares its own
    confidential: dict[str, Any] = field(default_factory=dict)
    # n_tokens: a tokenizer.json (relative paths: to the sources file's folder), or "" to train
    # a byte-level BPE tokenizer of tokenizer_vocab_size on the corpus itself
    tokenizer: str = ""
    tokenizer_vocab_size: int = DEFAULT_VOCAB_SIZE

    def __post_init__(self) -> None:
        compile_terms(self.confidential)  # a malformed block fails here, naming the field
        validate_patterns(self.boilerplate_patterns, where="boilerplate_patterns")
        for name in ("max_dup_line_frac", "max_top_2gram_frac", "max_symbol_digit_ratio", "max_boilerplate_frac"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                msg = f"invalid TextConfig: {name} must lie in [0, 1], got {getattr(self, name)}"
                raise ValueError(msg)
        if self.tokenizer_vocab_size <= 256:
            msg = ("invalid TextConfig: tokenizer_vocab_size must exceed 256 (the byte alphabet), "
                   f"got {self.tokenizer_vocab_size}")  # fmt: skip
            raise ValueError(msg)
        if self.min_chars < 0 or not 0.0 < self.near_dup_threshold <= 1.0 or self.shingle < 1:
            msg = (
                f"invalid TextConfig {self}: need min_chars >= 0, 0 < near_dup_threshold <= 1 "
                "and shingle >= 1"
            )
            raise ValueError(msg)


def near_duplicate_reason(kept: str, jaccard: float) -> str:
    """The exclusion reason of a near duplicate: ``near_duplicate of <kept id> (jaccard~0.87)``."""
    return f"near_duplicate of {kept} (jaccard~{jaccard:.2f})"


#: The stages ``timings`` reports (``other``: gathering, frames, statistics).
STAGES = ("clean", "language", "filters", "redact", "dedup", "tokens", "other")


def _lap(spent: dict[str, float], stage: str, t0: float) -> float:
    """Add the time since ``t0`` to ``stage``; the time now (the next stage's start)."""
    now = time.perf_counter()
    spent[stage] += now - t0
    return now


def _with_doc_ids(df: pl.DataFrame, table: str) -> pl.DataFrame:
    """``doc_id = "<table>:<source_id>"``; a source id seen twice gets "#2", "#3" in provenance order.

    A null source id falls back to ``@<_source>:<_row>``, so every row keeps a stable id.
    """
    fallback = pl.concat_str(
        [pl.lit("@"), pl.col("_source").fill_null(""), pl.lit(":"), pl.col("_row").cast(pl.String)],
        ignore_nulls=True,
    )
    base = pl.concat_str([pl.lit(f"{table}:"), pl.coalesce(pl.col("source_id"), fallback)])
    df = df.with_columns(base.alias("doc_id")).sort(
        ["doc_id", "_source", "_file", "_row", "raw_text"], nulls_last=True, maintain_order=True
    )
    nth = pl.int_range(pl.len()).over("doc_id")
    return df.with_columns(
        pl.when(nth == 0)
        .then(pl.col("doc_id"))
        .otherwise(pl.concat_str([pl.col("doc_id"), pl.lit("#"), (nth + 1).cast(pl.String)]))
        .alias("doc_id")
    )


def gather_documents(documents: pl.DataFrame, maintenance: pl.DataFrame) -> pl.DataFrame:
    """One frame of raw documents from both canonical tables, with stable doc ids."""
    prov = [pl.col("_source"), pl.col("_file"), pl.col("_row")]
    docs = conform(documents, "documents").select(
        pl.lit("documents").alias("source_table"),
        pl.col("doc_id").alias("source_id"),
        pl.col("doc_type"),
        pl.col("language").alias("language_hint"),
        pl.col("text").alias("raw_text"),
        pl.col("equipment_id"),
        *prov,
    )
    maint = conform(maintenance, "maintenance_records").select(
        pl.lit("maintenance_records").alias("source_table"),
        pl.col("record_id").alias("source_id"),
        pl.lit(MAINTENANCE_DOC_TYPE).alias("doc_type"),
        pl.lit(None, dtype=pl.String).alias("language_hint"),
        pl.concat_str(
            [pl.col("text"), pl.col("action")], separator="\n\n", ignore_nulls=True
        ).alias("raw_text"),
        pl.col("equipment_id"),
        *prov,
    )
    return pl.concat(
        [_with_doc_ids(docs, "documents"), _with_doc_ids(maint, "maintenance_records")],
        how="vertical",
    ).sort("doc_id")


def clean(df: pl.DataFrame) -> pl.DataFrame:
    """Step: clean ``raw_text`` into ``text`` and measure it."""
    return df.with_columns(clean_expr("raw_text").alias("text")).with_columns(
        pl.col("text").str.len_chars().cast(pl.Int64).alias("n_chars")
    )


def min_chars_reason(*, min_chars: int) -> pl.Expr:
    """Filter: "empty" for no text left after cleaning, "too_short" below ``min_chars``, else null."""
    return (
        pl.when(pl.col("n_chars") == 0)
        .then(pl.lit("empty"))
        .when(pl.col("n_chars") < min_chars)
        .then(pl.lit("too_short"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _excluded(df: pl.DataFrame, reason: pl.Expr, check: str) -> pl.DataFrame:
    return df.select(
        "doc_id",
        "source_table",
        "source_id",
        reason.alias("reason"),
        pl.lit(check).alias("check"),
        "_source",
        "_file",
        "_row",
    )


def _split(df: pl.DataFrame, reason: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    flagged = df.with_columns(reason.alias("_reason"))
    dropped = flagged.filter(pl.col("_reason").is_not_null())
    kept = flagged.filter(pl.col("_reason").is_null()).drop("_reason")
    return kept, dropped


def _step_stats(n_in: int, kept: pl.DataFrame, dropped: dict[str, int]) -> dict[str, Any]:
    return {"in": n_in, "kept": kept.height, "dropped": dropped}


def quality_filter(
    df: pl.DataFrame,
    *,
    config: TextConfig,
    excluded: list[pl.DataFrame],
    stats: dict[str, Any],
) -> pl.DataFrame:
    """Step: the quality filters of :mod:`corpusmill.text.filters`, in order; each drop is appended
    to ``excluded`` with its check code and counted in ``stats["steps"][<check>]``."""
    reasons = filter_reasons(
        max_dup_line_frac=config.max_dup_line_frac,
        max_top_2gram_frac=config.max_top_2gram_frac,
        max_symbol_digit_ratio=config.max_symbol_digit_ratio,
        boilerplate_patterns=config.boilerplate_patterns,
        max_boilerplate_frac=config.max_boilerplate_frac,
        languages=config.languages,
    )
    df = df.with_columns(top_2gram_frac(df.get_column("text")).alias("_top_2gram_frac"))
    for check, reason in reasons.items():
        n_in = df.height
        df, dropped = _split(df, reason)
        excluded.append(_excluded(dropped, pl.col("_reason"), check))
        stats["steps"][check] = _step_stats(n_in, df, {check: dropped.height})
    return df.drop("_top_2gram_frac")


def build_text_corpus(
    documents: pl.DataFrame,
    maintenance: pl.DataFrame,
    *,
    config: TextConfig = TextConfig(),
    timings: dict[str, float] | None = None,
) -> BuildResult:
    """Build the text corpus from canonical ``documents`` and ``maintenance_records``.

    Parameters
    ----------
    documents, maintenance
        Frames with the canonical schemas (missing columns are treated as null).
    config
        Thresholds and switches; see :class:`TextConfig`.
    timings
        If given, filled with the seconds spent per stage (:data:`STAGES`).

    Returns
    -------
    BuildResult
        ``frame`` (:data:`TEXT_CORPUS_SCHEMA`, sorted by doc_id), ``excluded``
        (:data:`TEXT_EXCLUDED_SCHEMA`, sorted by doc_id) and ``stats``. The same inputs and config
        give identical frames.
    """
    start = time.perf_counter()
    stats: dict[str, Any] = {"steps": {}}
    excluded: list[pl.DataFrame] = []

    # 1. gather
    df = gather_documents(documents, maintenance)
    stats["in"] = df.height
    stats["in_by_table"] = {
        "documents": documents.height,
        "maintenance_records": maintenance.height,
    }

    spent: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    t0 = time.perf_counter()

    # 2-3. clean, then drop empty and too-short documents
    df = clean(df)
    n_in = df.height
    df, dropped = _split(df, min_chars_reason(min_chars=config.min_chars))
    excluded.append(_excluded(dropped, pl.col("_reason"), "min_chars"))
    counts = dict(dropped.group_by("_reason").len().sort("_reason").iter_rows())
    stats["steps"]["min_chars"] = _step_stats(
        n_in, df, {"empty": counts.get("empty", 0), "too_short": counts.get("too_short", 0)}
    )

    t0 = _lap(spent, "clean", t0)

    # 4. language
    df = df.with_columns(tag_language(df.get_column("text"), df.get_column("language_hint")))
    t0 = _lap(spent, "language", t0)

    # 4b. quality filters, each drop with its check code
    df = quality_filter(df, config=config, excluded=excluded, stats=stats)
    t0 = _lap(spent, "filters", t0)

    # 5. PII redaction
    kind_cols = count_columns()
    if config.redact:
        df = redact_pii(
            df, "text", rules=compile_terms(config.confidential), site_column="equipment_id"
        )
    else:
        df = df.with_columns([pl.lit(0, dtype=pl.Int64).alias(c) for c in kind_cols.values()])
    stats["steps"]["pii"] = {
        "in": df.height,
        "redactions": {kind: int(df.get_column(kind_cols[kind]).sum()) for kind in PII_KINDS},
        "docs_with_pii": int(df.select((pii_total_expr() > 0).sum()).item()),
        "placeholders": placeholder_counts(df),
    }
    df = df.with_columns(
        pii_total_expr().alias("pii_redactions"),
        pl.col("text").str.len_chars().cast(pl.Int64).alias("n_chars"),
    )

    t0 = _lap(spent, "redact", t0)

    # 6. exact duplicates: sha256 of the text as written to the corpus
    df = df.with_columns(sha256_series(df.get_column("text")))
    n_in = df.height
    df = df.with_columns(exact_duplicate_of(df))
    df, dropped = _split(df, pl.col("duplicate_of"))
    excluded.append(
        _excluded(
            dropped,
            pl.concat_str([pl.lit("exact_duplicate of "), pl.col("duplicate_of")]),
            "exact_dedup",
        )
    )
    df = df.drop("duplicate_of")
    stats["steps"]["exact_dedup"] = _step_stats(n_in, df, {"exact_duplicate": dropped.height})

    # 7. near duplicates
    n_in = df.height
    near = near_duplicates(
        df.get_column("doc_id").to_list(),
        df.get_column("text").to_list(),
        threshold=config.near_dup_threshold,
        num_perm=config.num_perm,
        shingle=config.shingle,
        seed=config.seed,
    )
    near_df = pl.DataFrame(
        {
            "doc_id": list(near),
            "_near_reason": [near_duplicate_reason(rep, j) for rep, j in near.values()],
        },
        schema={"doc_id": pl.String, "_near_reason": pl.String},
    )
    df = df.join(near_df, on="doc_id", how="left", maintain_order="left")
    df, dropped = _split(df, pl.col("_near_reason"))
    excluded.append(_excluded(dropped, pl.col("_reason"), "near_dedup"))
    df = df.drop("_near_reason").with_columns(pl.col("doc_id").alias("near_dup_cluster"))
    stats["steps"]["near_dedup"] = _step_stats(n_in, df, {"near_duplicate": dropped.height})
    stats["steps"]["near_dedup"]["clusters_with_duplicates"] = len(
        {rep for rep, _ in near.values()}
    )

    t0 = _lap(spent, "dedup", t0)

    # 8. tokens: exact counts for the declared tokenizer, else for BPE trained on the corpus
    df = df.sort("doc_id")
    texts = df.get_column("text").to_list()
    named = (
        load_tokenizer(config.tokenizer)
        if config.tokenizer
        else train_bpe(texts, vocab_size=config.tokenizer_vocab_size)
    )
    df = df.with_columns(pl.Series("n_tokens", named.count(texts), dtype=pl.Int64))
    stats["tokenizer"] = named.info()
    t0 = _lap(spent, "tokens", t0)

    corpus = df.select(list(TEXT_CORPUS_SCHEMA)).cast(dict(TEXT_CORPUS_SCHEMA)).sort("doc_id")
    excl = (
        pl.concat(excluded, how="vertical").cast(dict(TEXT_EXCLUDED_SCHEMA)).sort("doc_id")
        if excluded
        else pl.DataFrame(schema=TEXT_EXCLUDED_SCHEMA)
    )

    stats["kept"] = corpus.height
    stats["dropped"] = {
        reason: n
        for step in stats["steps"].values()
        for reason, n in step.get("dropped", {}).items()
    }
    stats["pii_redactions"] = stats["steps"]["pii"]["redactions"]
    # per placeholder, over every document redacted (also those later dropped as duplicates)
    stats["redactions"] = stats["steps"]["pii"]["placeholders"]
    stats["chars_total"] = int(corpus.get_column("n_chars").sum())
    stats["tokens_total"] = int(corpus.get_column("n_tokens").sum())
    by_lang = (
        corpus.group_by("language")
        .agg(pl.len().alias("docs"), pl.col("n_tokens").sum().alias("tokens"))
        .sort("language")
    )
    stats["languages"] = {
        row["language"]: {"docs": int(row["docs"]), "tokens": int(row["tokens"])}
        for row in by_lang.iter_rows(named=True)
    }
    stats["config"] = {
        "min_chars": config.min_chars,
        "near_dup_threshold": config.near_dup_threshold,
        "num_perm": config.num_perm,
        "shingle": config.shingle,
        "seed": config.seed,
        "redact": config.redact,
        "max_dup_line_frac": config.max_dup_line_frac,
        "max_top_2gram_frac": config.max_top_2gram_frac,
        "max_symbol_digit_ratio": config.max_symbol_digit_ratio,
        "boilerplate_patterns": list(config.boilerplate_patterns),
        "max_boilerplate_frac": config.max_boilerplate_frac,
        "languages": list(config.languages),
        "tokenizer": config.tokenizer,
        "tokenizer_vocab_size": config.tokenizer_vocab_size,
    }
    spent["other"] = max(0.0, time.perf_counter() - start - sum(spent.values()))
    if timings is not None:
        timings.update(spent)
    return BuildResult(frame=corpus, excluded=excl, stats=stats, files={"tokenizer": named.json})
