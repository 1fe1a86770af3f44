"""Coverage-guided byte fuzzing of every reader and the sources loader with atheris (libFuzzer).

Run: ``python -m tests.fuzz_atheris [LIBFUZZER OPTIONS] [CORPUS_DIR ...]``, e.g.
``python -m tests.fuzz_atheris -runs=200000 -seed=7 /tmp/fuzz-corpus`` for a long run or
``-max_total_time=600`` for ten minutes. Without a corpus folder it starts from a temporary one
holding one valid seed per target (``tests.fuzzing.targets``: CSV in UTF-8 and GB18030, TSV,
whitespace, headerless CSV, JSON, JSONL, Excel, Parquet, SQLite, PDF, Markdown, text, and
sources.yaml). The first byte of an input picks the target, the rest is the file.

An input that breaks a promise of ``tests/fuzzing.py`` (a parser's own error instead of the typed
one, a row neither kept nor rejected) is an uncaught exception: libFuzzer prints its traceback,
writes the input to ``crash-<sha1>`` (``-artifact_prefix=``) and exits non-zero. Replay one with
``python -m tests.fuzz_atheris crash-<sha1>``. Every 1,000 inputs (and at a crash) the harness
prints ``fuzz: <n> inputs, outcomes {...}``, the outcomes counted per target; libFuzzer's own
last line ``Done <n> runs`` counts the executions.

The corpusmill modules are instrumented for coverage; polars, pyarrow and the other parsers are
native or third-party and are not, so guidance comes from the project's own branches.
"""

from __future__ import annotations

import collections
import os
import sys
import tempfile
from pathlib import Path

import atheris

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one small input at a time: no pool churn
with atheris.instrument_imports(include=["corpusmill", "tests.fuzzing"]):
    from tests import fuzzing

TARGETS = fuzzing.targets()
OUTCOMES: collections.Counter[str] = collections.Counter()
REPORT_EVERY = 1000  # libFuzzer leaves through C's exit(), so no Python hook runs at the end


def one_input(data: bytes) -> None:
    if not data:
        return
    target = TARGETS[data[0] % len(TARGETS)]
    OUTCOMES[f"{target.name}:{fuzzing.check(target, data[1:])}"] += 1
    if OUTCOMES.total() % REPORT_EVERY == 0:
        _report()


def _seed_corpus() -> str:
    folder = Path(tempfile.mkdtemp(prefix="corpusmill-fuzz-"))
    for i, t in enumerate(TARGETS):
        (folder / f"seed-{t.name}").write_bytes(bytes([i]) + t.seed)
    return str(folder)


def _report() -> None:
    print(f"fuzz: {OUTCOMES.total()} inputs, outcomes {dict(sorted(OUTCOMES.items()))}",
          flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv if argv is None else argv)
    if not any(not a.startswith("-") for a in args[1:]):
        args.append(_seed_corpus())
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
