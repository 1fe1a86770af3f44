"""Exact token counts: a declared tokenizer.json or BPE trained on the corpus, stored beside the
version, and the rebuild of unchanged inputs that reuses the latest version."""

from __future__ import annotations

import hashlib
import json

import polars as pl
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from corpusmill import config as config_mod
from corpusmill import corpora
from corpusmill.canonical import schema
from corpusmill.layout import Lake
from corpusmill.text import TextConfig, build_text_corpus
from corpusmill.text.tokens import (
    KIND_FILE,
    KIND_TRAINED,
    TokenizerError,
    load_tokenizer,
    train_bpe,
)

TEXTS = [
    "CNC-07 主轴温度过高 spindle temperature 78.5 degC; replaced the coolant pump, 已复查 OK.",
    "注塑机3号 液压油泄漏 hydraulic oil leak at the main pump seal; seal replaced at 20 MPa.",
    "Line 2 conveyor belt loose, tightened belt and recalibrated the axis. 正常 no further issue.",
    "伺服报警 servo alarm on CNC-12, reset alarm and test run OK; 夜班处理 by the night shift.",
    "Spindle bearing of CNC-01 made a grinding noise; the bearing was replaced and greased.",
    "润滑不足 lubrication insufficient on CNC-33: refilled lubricant, checked the pump filter.",
]
SOURCES = """\
sources:
  - {name: line, site: plant, kind: sensor, path: a.csv, format: csv,
     fields: {ts_utc: t, equipment_id: m, signal: s, value: v}}
"""


def documents(texts: list[str]) -> pl.DataFrame:
    s = schema("documents")
    rows = [{"doc_id": f"d{i}", "doc_type": "ticket", "text": t, "_source": "docs",
             "_file": "docs.csv", "_row": i + 1} for i, t in enumerate(texts)]  # fmt: skip
    return pl.DataFrame([{c: r.get(c) for c in s} for r in rows], schema=s)


def no_maintenance() -> pl.DataFrame:
    return pl.DataFrame(schema=schema("maintenance_records"))


def word_level_tokenizer(path) -> None:
    """A small user tokenizer: whole words from a fixed vocabulary, anything else [UNK]."""
    vocab = {"[UNK]": 0, "spindle": 1, "pump": 2, "CNC": 3, "-": 4, "07": 5}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))


def test_n_tokens_is_the_trained_tokenizers_exact_count_and_the_kind_is_recorded():
    result = build_text_corpus(documents(TEXTS), no_maintenance())
    frame = result.frame
    assert frame.height == len(TEXTS)
    tok = Tokenizer.from_str(result.files["tokenizer"])
    expected = [len(tok.encode(t).ids) for t in frame["text"].to_list()]
    assert frame["n_tokens"].to_list() == expected
    info = result.stats["tokenizer"]
    assert info["kind"] == KIND_TRAINED
    assert info["sha256"] == hashlib.sha256(result.files["tokenizer"].encode()).hexdigest()
    assert info["vocab_size"] == tok.get_vocab_size(with_added_tokens=True)
    assert result.stats["tokens_total"] == sum(expected)


def test_training_is_deterministic_and_the_vocabulary_size_is_the_configured_one():
    texts = TEXTS * 20
    first, again = train_bpe(texts, vocab_size=300), train_bpe(texts, vocab_size=300)
    assert first.json == again.json and first.name == again.name
    assert first.vocab_size == 300
    cfg = TextConfig(tokenizer_vocab_size=300)
    a = build_text_corpus(documents(texts[:6]), no_maintenance(), config=cfg)
    b = build_text_corpus(documents(texts[:6]), no_maintenance(), config=cfg)
    assert a.files == b.files and a.frame.equals(b.frame)
    with pytest.raises(ValueError, match="tokenizer_vocab_size must exceed 256"):
        TextConfig(tokenizer_vocab_size=100)


def test_a_declared_tokenizer_file_is_used(tmp_path):
    path = tmp_path / "tokenizer.json"
    word_level_tokenizer(path)
    result = build_text_corpus(documents(TEXTS), no_maintenance(),
                               config=TextConfig(tokenizer=str(path)))  # fmt: skip
    tok = Tokenizer.from_file(str(path))
    texts = result.frame["text"].to_list()
    assert result.frame["n_tokens"].to_list() == [len(tok.encode(t).ids) for t in texts]
    # CNC - 07 主轴温度过高 spindle temperature 78 . 5 degC ; replaced the coolant pump , 已复查 OK .
    first = result.frame.filter(pl.col("source_id") == "d0")
    assert first["n_tokens"].item() == 19
    info = result.stats["tokenizer"]
    assert (info["kind"], info["name"], info["vocab_size"]) == (KIND_FILE, "tokenizer.json", 6)
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_missing_or_broken_tokenizer_file_is_named(tmp_path):
    with pytest.raises(TokenizerError, match=r"tokenizer file .*absent.json not found"):
        load_tokenizer(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a tokenizer"}', encoding="utf-8")
    with pytest.raises(TokenizerError, match="bad.json is not a tokenizer.json"):
        load_tokenizer(bad)


def test_the_sources_file_resolves_the_tokenizer_path_and_refuses_a_missing_one(tmp_path):
    word_level_tokenizer(tmp_path / "tok.json")
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES + "corpora:\n  text_corpus: {tokenizer: tok.json}\n", encoding="utf-8")
    cfg = config_mod.load(path).corpus_config("text_corpus")
    assert cfg.tokenizer == str((tmp_path / "tok.json").resolve())
    path.write_text(SOURCES + "corpora:\n  text_corpus: {tokenizer: gone.json}\n", encoding="utf-8")
    with pytest.raises(config_mod.ConfigError) as e:
        config_mod.load(path)
    assert str(path) in str(e.value)
    assert "corpora.text_corpus.tokenizer: tokenizer file" in str(e.value)
    assert "gone.json not found" in str(e.value)


def test_the_stored_tokenizer_loads_back_and_reproduces_the_counts_and_a_rebuild_reuses_it(
    tmp_path,
):
    spec = corpora.CORPORA["text_corpus"]
    frames = {"documents": documents(TEXTS), "maintenance_records": no_maintenance()}
    cfg = spec.defaults
    result, reused = corpora.build_or_reuse(tmp_path, spec, frames, cfg)
    assert not reused
    published = corpora.publish(tmp_path, spec, result, config=cfg, input_versions={})
    stored = Lake(tmp_path).tokenizer("text_corpus", published.version)
    tok = Tokenizer.from_file(str(stored))
    frame = result.frame
    assert frame["n_tokens"].to_list() == [len(tok.encode(t).ids) for t in frame["text"].to_list()]
    manifest = json.loads(published.manifest_path.read_text(encoding="utf-8"))
    assert manifest["counts"]["tokenizer"]["kind"] == KIND_TRAINED
    assert manifest["counts"]["tokenizer"]["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()

    # unchanged inputs and settings: the latest version is read back, nothing is rebuilt
    again, reused = corpora.build_or_reuse(tmp_path, spec, frames, cfg)
    assert reused
    assert again.frame.equals(frame) and again.excluded.equals(result.excluded)
    assert again.files == result.files
    second = corpora.publish(tmp_path, spec, again, config=cfg, input_versions={})
    assert (second.version, second.created) == (published.version, False)

    # a run stopped before the tokenizer file was written builds again, and publishing writes it
    stored.unlink()
    rebuilt, reused = corpora.build_or_reuse(tmp_path, spec, frames, cfg)
    assert not reused
    corpora.publish(tmp_path, spec, rebuilt, config=cfg, input_versions={})
    assert stored.read_text(encoding="utf-8") == result.files["tokenizer"]

    # a changed input or setting builds again
    changed = {**frames, "documents": documents([*TEXTS, "新的记录 a new maintenance record text."])}
    assert corpora.build_or_reuse(tmp_path, spec, changed, cfg)[1] is False
    other = TextConfig(tokenizer_vocab_size=300)
    assert corpora.build_or_reuse(tmp_path, spec, frames, other)[1] is False
