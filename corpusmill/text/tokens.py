"""Token counts: exact counts for a named tokenizer, and a model-free estimate.

``text_corpus.n_tokens`` is ``len(tokenizer.encode(text).ids)`` for one named tokenizer
(:class:`NamedTokenizer`), counted with ``encode_batch``:

- a ``tokenizer.json`` the user declares (``corpora.text_corpus.tokenizer``), loaded with the
  ``tokenizers`` library (:func:`load_tokenizer`); or, by default,
- a byte-level BPE tokenizer trained on the corpus itself (:func:`train_bpe`): a fixed vocabulary
  size, the corpus texts in doc_id order, so the same corpus gives the same tokenizer, byte for
  byte. It is stored beside the corpus version (:meth:`corpusmill.layout.Lake.tokenizer`) and loads
  back with ``tokenizers.Tokenizer.from_file``.

Nothing is downloaded: the tokenizer is a local file or trained here. The manifest records the
tokenizer's kind, name, vocabulary size and the sha256 of its JSON (:meth:`NamedTokenizer.info`).

The estimate (:func:`count_tokens_expr`) counts pre-tokens the way GPT-2-style BPE tokenizers split
text before merging, with one token per CJK character:

- each Han, Hiragana or Katakana character is one token;
- each run of other letters (with combining marks) is one token ("bearing", "Läger");
- digits count in groups of up to three ("12345" -> 2), as cl100k-style tokenizers split them;
- each run of punctuation/symbols is one token ("--", "°", "[").

It is used where no tokenizer is at hand (the quality filters' n-grams, ``sft_pairs``).

Warnings
--------
The estimate is deterministic and version-independent but not a real BPE count: BPE splits rare and
long words into several tokens, so real counts for English are usually somewhat higher.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
TOKEN_RE = rf"[{_CJK}]|[\p{{L}}\p{{M}}--[{_CJK}]]+|\p{{N}}{{1,3}}|[^\s\p{{L}}\p{{M}}\p{{N}}]+"

#: Vocabulary size of the BPE tokenizer trained on a corpus when none is declared.
DEFAULT_VOCAB_SIZE = 8000
#: ``kind`` of a tokenizer trained on the corpus / loaded from a declared file.
KIND_TRAINED = "bpe_trained_on_corpus"
KIND_FILE = "tokenizer_file"
#: Texts per ``encode_batch`` call (bounds the encodings held at once).
_BATCH = 20_000


class TokenizerError(ValueError):
    """A tokenizer file that is missing, unreadable or not a ``tokenizers`` JSON."""


@dataclass(frozen=True)
class NamedTokenizer:
    """A tokenizer and what the manifest says about it.

    Attributes
    ----------
    tokenizer
        The ``tokenizers.Tokenizer``.
    kind
        :data:`KIND_TRAINED` or :data:`KIND_FILE`.
    name
        The declared file's name, or ``bpe-<vocab>-<sha256[:12]>`` for a trained one.
    json
        The tokenizer serialised (what is stored beside the version; its sha256 names it).
    """

    tokenizer: Tokenizer
    kind: str
    name: str
    json: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.json.encode("utf-8")).hexdigest()

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size(with_added_tokens=True))

    def info(self) -> dict[str, Any]:
        """``{"kind", "name", "vocab_size", "sha256"}`` (for the manifest)."""
        return {"kind": self.kind, "name": self.name, "vocab_size": self.vocab_size,
                "sha256": self.sha256}  # fmt: skip

    def count(self, texts: list[str]) -> list[int]:
        """``len(encode(text).ids)`` of every text (``encode_batch``, in batches)."""
        out: list[int] = []
        for b0 in range(0, len(texts), _BATCH):
            out += [len(e.ids) for e in self.tokenizer.encode_batch(texts[b0 : b0 + _BATCH])]
        return out


def load_tokenizer(path: str | Path) -> NamedTokenizer:
    """A declared ``tokenizer.json``, loaded with ``tokenizers.Tokenizer.from_file``.

    Raises
    ------
    TokenizerError
        The file is missing, unreadable, or not a tokenizer the ``tokenizers`` library reads; the
        message names the file and the problem.
    """
    from tokenizers import Tokenizer

    path = Path(path)
    if not path.is_file():
        msg = f"tokenizer file {path} not found (corpora.text_corpus.tokenizer)"
        raise TokenizerError(msg)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        msg = f"tokenizer file {path} cannot be read: {e}"
        raise TokenizerError(msg) from None
    try:
        tok = Tokenizer.from_str(text)
    except Exception as e:  # noqa: BLE001 - tokenizers raises a bare Exception for a bad JSON
        msg = (f"tokenizer file {path} is not a tokenizer.json the tokenizers library reads: "
               f"{e}")  # fmt: skip
        raise TokenizerError(msg) from None
    return NamedTokenizer(tok, KIND_FILE, path.name, text)


def train_bpe(texts: list[str], *, vocab_size: int = DEFAULT_VOCAB_SIZE) -> NamedTokenizer:
    """A byte-level BPE tokenizer trained on ``texts`` (in the given order).

    Byte-level, so every text encodes without unknown tokens (Chinese as its UTF-8 bytes until
    merges join them); no special tokens, so the count is of the text alone. Deterministic: the same
    texts and vocabulary size give the same JSON.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    js = tok.to_str()
    digest = hashlib.sha256(js.encode("utf-8")).hexdigest()
    return NamedTokenizer(tok, KIND_TRAINED, f"bpe-{vocab_size}-{digest[:12]}", js)


def count_tokens_expr(expr: pl.Expr | str) -> pl.Expr:
    """Estimated token count (Int64) of a String column; null text counts 0."""
    e = pl.col(expr) if isinstance(expr, str) else expr
    return e.str.count_matches(TOKEN_RE).cast(pl.Int64).fill_null(0)


def count_tokens(text: str | None) -> int:
    """Estimated token count of one string (see :func:`count_tokens_expr`)."""
    return pl.select(count_tokens_expr(pl.lit(text, dtype=pl.String))).item()
