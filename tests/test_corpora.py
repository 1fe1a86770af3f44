"""The corpus registry: one declaration per corpus, and builds held to it."""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from corpusmill.canonical import empty
from corpusmill.corpora import CORPORA, corpus
from corpusmill.corpus import BuildResult, CorpusError


def _inputs(spec) -> dict[str, pl.DataFrame]:
    return {t: empty(t) for t in spec.inputs}


@pytest.mark.parametrize("name", list(CORPORA))
def test_every_builder_returns_its_declared_schema_even_on_empty_inputs(name: str) -> None:
    spec = CORPORA[name]
    result = spec.build(_inputs(spec))
    assert result.frame.schema == spec.schema
    assert result.frame.height == 0 and {"reason", "check"} <= set(result.excluded.columns)
    assert spec.id_column in spec.schema


def test_a_builder_that_drifts_from_its_schema_fails_the_build() -> None:
    spec = CORPORA["timeseries_windows"]
    good = spec.build(_inputs(spec))
    drifted = dataclasses.replace(
        spec,
        builder=lambda inputs, cfg: BuildResult(
            good.frame.with_columns(pl.col("label").cast(pl.Int64)), good.excluded
        ),
    )
    with pytest.raises(CorpusError, match="timeseries_windows: the builder returned schema"):
        drifted.build(_inputs(spec))


def test_an_undeclared_exclusion_check_fails_the_build() -> None:
    spec = CORPORA["sft_pairs"]
    good = spec.build(_inputs(spec))
    excluded = pl.DataFrame({"reason": ["?"], "check": ["made_up"]})
    odd = dataclasses.replace(spec, builder=lambda inputs, cfg: BuildResult(good.frame, excluded))
    with pytest.raises(CorpusError, match=r"undeclared check\(s\) \['made_up'\]"):
        odd.build(_inputs(spec))


def test_missing_inputs_and_unknown_corpora_are_named() -> None:
    with pytest.raises(CorpusError, match=r"inputs \['maintenance_records'\] not given"):
        CORPORA["text_corpus"].build({"documents": empty("documents")})
    with pytest.raises(CorpusError, match="unknown corpus 'txt'; corpora: text_corpus"):
        corpus("txt")


def test_config_hash_follows_the_builders_defaults() -> None:
    """The SFT settings the manifest hashes are the builder's own defaults, not a hand copy."""
    from corpusmill.sft import SftConfig

    spec = CORPORA["sft_pairs"]
    assert spec.config_dict(spec.defaults) == dataclasses.asdict(SftConfig())


def test_items_size_windows_by_cells_and_text_by_tokens() -> None:
    windows = pl.DataFrame(
        {"window_id": ["w2", "w1"], "n_steps": [12, 12], "channels": [["a", "b"], ["a"]]}
    )
    items = CORPORA["timeseries_windows"].items(windows)
    assert items.rows() == [("w1", 12, 2 + 96), ("w2", 24, 2 + 192)]
    docs = pl.DataFrame({"doc_id": ["d1"], "text": ["héllo"], "n_tokens": [0]})
    assert CORPORA["text_corpus"].items(docs).rows() == [("d1", 1, 2 + 6)]
