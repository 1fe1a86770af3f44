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
    items = CORPORA["timeseries_windows"].items(windows)  # id, n_steps, cells
    assert items.rows() == [("w1", 12, 2 + 8 + 96), ("w2", 24, 2 + 8 + 192)]
    docs = pl.DataFrame({"doc_id": ["d1"], "text": ["héllo"], "n_tokens": [0]})
    assert CORPORA["text_corpus"].items(docs).rows() == [("d1", 1, 2 + 6 + 8)]


def test_items_size_images_by_patches_and_bytes_and_features_by_cells() -> None:
    images = pl.DataFrame({"image_id": ["i1"], "sha256": ["ab"], "width": [64], "height": [40],
                           "size_bytes": [5000]})  # fmt: skip
    # 4 x 3 patches of 16 px; id 2 + sha 2 + three numbers 24 + the stored image 5000
    assert CORPORA["image_corpus"].items(images).rows() == [("i1", 12, 2 + 2 + 24 + 5000)]
    features = pl.DataFrame({"unit_id": ["u1", "u2"], "temp_mean": [1.0, None],
                             "temp_max": [2.0, 3.0]})  # fmt: skip
    assert CORPORA["process_quality"].items(features).rows() == [("u1", 2, 18), ("u2", 1, 10)]


SOURCES = """\
sources:
  - {name: line, site: plant, kind: sensor, path: a.csv, format: csv,
     fields: {ts_utc: t, equipment_id: m, signal: s, value: v}}
"""


def _load(tmp_path, corpora: str):
    from corpusmill import config

    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES + corpora, encoding="utf-8")
    return config.load(path)


def test_corpus_settings_come_from_the_sources_file(tmp_path) -> None:
    cfg = _load(tmp_path, "corpora:\n  timeseries_windows: {window: 2h, split: [0.8, 0.1, 0.1]}\n"
                          "  text_corpus: {near_dup_threshold: 0.9, redact: false}\n")  # fmt: skip
    windows = cfg.corpus_config("timeseries_windows")
    assert (windows.window, windows.split) == ("2h", (0.8, 0.1, 0.1))
    assert windows.resample == CORPORA["timeseries_windows"].defaults.resample  # the rest: defaults
    text = cfg.corpus_config("text_corpus")
    assert (text.near_dup_threshold, text.redact, text.min_chars) == (0.9, False, 20)
    assert cfg.corpus_config("sft_pairs") == CORPORA["sft_pairs"].defaults
    spec = CORPORA["timeseries_windows"]
    assert spec.config_dict(windows) != spec.config_dict(spec.defaults)  # so the hash follows


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("  timeseries_windows: {windw: 2h}",
         "corpora.timeseries_windows: unknown setting 'windw'; settings: failure_types,"),
        ("  text_corpus: {min_chars: twenty}",
         "corpora.text_corpus.min_chars: expected int like 20, got 'twenty'"),
        ("  timeseries_windows: {window: 7m, resample: 2m}",
         "window '7m' is not a whole number of resample buckets ('2m')"),
        ("  timeseries_windows: {split: [0.5, 0.2]}", "split must be three fractions"),
        ("  sft_pairs: {min_chars: -1}", "corpora.sft_pairs: min_chars must be >= 0, got -1"),
        ("  text_corpora: {}", "unknown corpus 'text_corpora'; corpora: text_corpus"),
    ],
    ids=["unknown-key", "wrong-type", "bad-grid", "bad-split", "negative", "unknown-corpus"],
)  # fmt: skip
def test_bad_corpus_settings_are_refused_at_load(tmp_path, block: str, message: str) -> None:
    from corpusmill.config import ConfigError

    with pytest.raises(ConfigError) as e:
        _load(tmp_path, "corpora:\n" + block + "\n")
    assert message in str(e.value)
    assert str(tmp_path / "sources.yaml") in str(e.value)
