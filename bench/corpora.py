"""Benchmark the text corpus: near dedup against a plain datasketch loop, the build and a rebuild.

Prints::

    bench: corpora.minhash_ratio V          plain datasketch loop seconds / near_duplicates seconds
                                            (the median of --repeat runs; the loop runs once)
    bench: corpora.minhash_agreement V      share of documents both call (not) near duplicates
    bench: corpora.minhash_agreement_seed_floor V   near_duplicates seed 1 vs seed 2 (the
                                            estimator's own noise: what independent hashes give)
    bench: corpora.minhash_agreement_same_hashes V  (--reference) vs the project's per-document
                                            datasketch loop (near_duplicates_datasketch)
    bench: corpora.text_docs_per_s V        build_text_corpus throughput on the same documents
    bench: corpora.rebuild_fraction V       second build + publish on unchanged inputs / first
    bench: corpora.stage_share_<stage> V    share of the build's time per stage (clean, language,
                                            filters, redact, dedup, tokens, other)

The input is generated in code (seeded): short mixed Chinese/English maintenance texts with planted
exact duplicates and near duplicates (character edits, added words, reordered clauses, suffixes).

The baseline is the plain datasketch way of doing the same job, one document at a time in
ascending id order: normalise the text (lower case, whitespace collapsed), take its set of
character 5-grams, ``MinHash(num_perm=128, seed=1).update_batch`` with the UTF-8 shingles
(datasketch's default hash), ``MinHashLSH.query`` for candidates among the kept documents, drop the
document if one of them has a Jaccard estimate >= 0.8, else ``insert`` it (the LSH index is built at
the same lowered threshold as the project's, see corpusmill.text.dedup). Ours is
:func:`corpusmill.text.dedup.near_duplicates` with the same parameters; it hashes shingles as
datasketch does, so the signatures are the same and the two should agree exactly.

The build splits the documents between the canonical ``documents`` and ``maintenance_records``
tables (text / action), runs :func:`corpusmill.text.corpus.build_text_corpus` (stage times from its
``timings``; tokens = training the BPE tokenizer on the corpus and counting) and publishes the
version to a temporary lake; the rebuild is :func:`corpusmill.corpora.build_or_reuse` + ``publish``
on the same inputs, as the corpus asset runs them.

Goals: minhash_ratio >= 20, minhash_agreement >= 0.99, rebuild_fraction < 0.1. Run: ``python -m
bench.corpora [--docs 200000] [--seed 7] [--repeat 3] [--reference]``; ``--docs 20000`` is quick.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from corpusmill.canonical import schema
from corpusmill.corpora import (
    CORPORA,
    INPUT_FINGERPRINT,
    build_or_reuse,
    input_fingerprint,
    publish,
)
from corpusmill.text import corpus as corpus_mod
from corpusmill.text.dedup import (
    LSH_MARGIN,
    LSH_MAX_THRESHOLD,
    LSH_MIN_THRESHOLD,
    near_duplicates,
    near_duplicates_datasketch,
)

THRESHOLD = 0.8
NUM_PERM = 128
SHINGLE = 5
SEED = 1

# -- the documents -------------------------------------------------------------------------------

MACHINES = [f"CNC-{i:02d}" for i in range(1, 61)] + [f"注塑机{i}号" for i in range(1, 21)]
SYMPTOMS = [
    ("主轴温度过高", "spindle temperature high"),
    ("冷却液压力低", "coolant pressure low"),
    ("振动异常", "abnormal vibration"),
    ("液压油泄漏", "hydraulic oil leak"),
    ("伺服报警", "servo alarm"),
    ("刀具磨损严重", "tool wear excessive"),
    ("润滑不足", "lubrication insufficient"),
    ("电机电流波动", "motor current fluctuating"),
    ("气压不稳", "air pressure unstable"),
    ("异响", "unusual noise"),
    ("定位精度偏差", "positioning error"),
    ("皮带松动", "belt loose"),
]
ACTIONS = [
    ("更换冷却液泵", "replaced coolant pump"),
    ("更换轴承", "replaced spindle bearing"),
    ("紧固皮带", "tightened belt"),
    ("清洗过滤器", "cleaned filter"),
    ("补充润滑油", "refilled lubricant"),
    ("重新校准", "recalibrated axis"),
    ("更换密封圈", "replaced seal"),
    ("复位报警并试运行", "reset alarm and test run OK"),
    ("更换刀具", "changed tool"),
    ("检查线路", "checked wiring"),
]
EXTRAS = ["已复查", "待观察", "checked again", "no further issue", "备件已申请", "see WO log",
          "夜班处理", "shift B", "OK", "正常"]  # fmt: skip
PEOPLE_CUES = ["技术员", "tech", "by"]


def _base_text(rng: random.Random) -> tuple[str, str]:
    """(symptom, action) of one fresh record; numbers make unrelated records differ."""
    m = rng.choice(MACHINES)
    s_zh, s_en = rng.choice(SYMPTOMS)
    a_zh, a_en = rng.choice(ACTIONS)
    reading = f"{rng.uniform(10, 120):.1f}"
    wo = f"WO-{rng.randrange(10**6):06d}"
    day = f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    symptom = rng.choice(
        [
            f"{wo} {m} {s_zh} ({s_en}) 读数 {reading}",
            f"{m}: {s_en}, {s_zh}, reading {reading} on {day}",
            f"{day} {m} {s_zh}，{s_en} {reading} {wo}",
        ]
    )
    action = rng.choice(
        [
            f"{a_zh}，{a_en}。{rng.choice(EXTRAS)}",
            f"{a_en}; {a_zh} {rng.choice(PEOPLE_CUES)} T{rng.randrange(1000):03d}",
            f"{a_zh} / {a_en}, {day}",
        ]
    )
    return symptom, action


def _near_copy(symptom: str, action: str, rng: random.Random) -> tuple[str, str]:
    """A planted near duplicate: one or two small edits of an existing record."""
    for _ in range(rng.randint(1, 2)):
        kind = rng.randrange(4)
        if kind == 0:  # substitute a few characters
            chars = list(symptom)
            for _ in range(rng.randint(1, 3)):
                chars[rng.randrange(len(chars))] = rng.choice("的了0123456789abcxyz")
            symptom = "".join(chars)
        elif kind == 1:  # add a word
            words = action.split(" ")
            words.insert(rng.randrange(len(words) + 1), rng.choice(EXTRAS))
            action = " ".join(words)
        elif kind == 2:  # reorder the clauses of the action
            parts = [p for p in action.replace("，", ",").split(",") if p]
            rng.shuffle(parts)
            action = ",".join(parts)
        else:  # append a suffix
            action = f"{action} {rng.choice(EXTRAS)}"
    return symptom, action


def make_records(n: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """``n`` records ``(id, symptom, action)``: ~75% fresh, ~20% near copies, ~5% exact copies."""
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []
    for i in range(n):
        u = rng.random()
        if out and u < 0.05:
            _, s, a = out[rng.randrange(len(out))]
        elif out and u < 0.25:
            _, s, a = out[rng.randrange(len(out))]
            s, a = _near_copy(s, a, rng)
        else:
            s, a = _base_text(rng)
        out.append((f"R{i:07d}", s, a))
    # Ids in a shuffled order, so that a copy does not always sort after its original.
    ids = [r[0] for r in out]
    rng.shuffle(ids)
    return [(ids[k], s, a) for k, (_, s, a) in enumerate(out)]


# -- near duplicates -----------------------------------------------------------------------------


def plain_datasketch(ids: list[str], texts: list[str]) -> set[str]:
    """The baseline: a plain per-document datasketch MinHash + MinHashLSH loop; the dropped ids."""
    from datasketch import MinHash, MinHashLSH

    lsh_threshold = max(LSH_MIN_THRESHOLD, min(THRESHOLD, LSH_MAX_THRESHOLD) - LSH_MARGIN)
    lsh = MinHashLSH(threshold=lsh_threshold, num_perm=NUM_PERM)
    kept: dict[str, MinHash] = {}
    dropped: set[str] = set()
    for i in sorted(range(len(ids)), key=ids.__getitem__):
        norm = " ".join(texts[i].lower().split())
        if len(norm) >= SHINGLE:
            shingles = {norm[p : p + SHINGLE] for p in range(len(norm) - SHINGLE + 1)}
        else:
            shingles = {norm} if norm else set()
        mh = MinHash(num_perm=NUM_PERM, seed=SEED)
        mh.update_batch([s.encode("utf-8") for s in shingles])
        if any(mh.jaccard(kept[c]) >= THRESHOLD for c in lsh.query(mh)):
            dropped.add(ids[i])
        else:
            lsh.insert(ids[i], mh)
            kept[ids[i]] = mh
    return dropped


def _agreement(a: set[str], b: set[str], n: int) -> float:
    return 1.0 - len(a ^ b) / n if n else 1.0


# -- the build -----------------------------------------------------------------------------------


def make_frames(records: list[tuple[str, str, str]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(documents, maintenance_records), canonical schemas; every third record is a document."""
    created = datetime(2024, 3, 1, tzinfo=UTC)
    docs = [r for k, r in enumerate(records) if k % 3 == 0]
    maint = [r for k, r in enumerate(records) if k % 3 != 0]
    d = pl.DataFrame(
        {
            "doc_id": [r[0] for r in docs],
            "title": [r[1][:20] for r in docs],
            "doc_type": "ticket",
            "equipment_id": None,
            "language": None,
            "text": [f"{r[1]}\n\n{r[2]}" for r in docs],
            "created_utc": created,
            "_source": "bench_docs",
            "_file": "docs.csv",
            "_row": list(range(1, len(docs) + 1)),
        },
        schema_overrides={"equipment_id": pl.String, "language": pl.String},
    )
    m = pl.DataFrame(
        {
            "record_id": [r[0] for r in maint],
            "maintenance_type": "corrective",
            "text": [r[1] for r in maint],
            "action": [r[2] for r in maint],
            "_source": "bench_maint",
            "_file": "maint.csv",
            "_row": list(range(1, len(maint) + 1)),
        }
    )

    def fit(df: pl.DataFrame, table: str) -> pl.DataFrame:
        sch = schema(table)
        return df.select(
            [
                (pl.col(c) if c in df.columns else pl.lit(None)).cast(t).alias(c)
                for c, t in sch.items()
            ]
        )

    return fit(d, "documents"), fit(m, "maintenance_records")


def timed_builds(documents: pl.DataFrame, maintenance: pl.DataFrame, lake_root: Path):
    """A full build of text_corpus published to an empty lake, then the same inputs again.

    The first is what :func:`corpusmill.corpora.build_or_reuse` does without a matching version
    (fingerprint the inputs, build, publish), with the builder's stage timings; the second is
    ``build_or_reuse`` + ``publish`` as the corpus asset runs them. Returns (result, first build s,
    first publish s, second s, reused, {stage: s}).
    """
    spec = CORPORA["text_corpus"]
    frames = {"documents": documents, "maintenance_records": maintenance}
    spent: dict[str, float] = {}
    t0 = time.perf_counter()
    fp = input_fingerprint(frames)
    result = corpus_mod.build_text_corpus(documents, maintenance, config=spec.defaults,
                                          timings=spent)  # fmt: skip
    result.stats[INPUT_FINGERPRINT] = fp
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    publish(lake_root, spec, result, config=spec.defaults, input_versions={})
    t_publish = time.perf_counter() - t0
    t0 = time.perf_counter()
    again, reused = build_or_reuse(lake_root, spec, frames, spec.defaults)
    publish(lake_root, spec, again, config=spec.defaults, input_versions={})
    t_second = time.perf_counter() - t0
    return result, t_build, t_publish, t_second, reused, spent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.corpora", description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=200_000, help="documents to generate")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="runs of near_duplicates (median)")
    ap.add_argument("--reference", action="store_true",
                    help="also run the project's per-document datasketch loop")  # fmt: skip
    ns = ap.parse_args(argv)

    t0 = time.perf_counter()
    records = make_records(ns.docs, ns.seed)
    ids = [r[0] for r in records]
    texts = [f"{r[1]}\n\n{r[2]}" for r in records]
    n_chars = sum(len(t) for t in texts) / max(1, len(texts))
    print(f"bench: corpora generated {len(records):,} documents (mean {n_chars:.0f} chars) "
          f"in {time.perf_counter() - t0:.1f}s")  # fmt: skip

    near_duplicates(ids[:50], texts[:50], threshold=THRESHOLD, num_perm=NUM_PERM,
                    shingle=SHINGLE, seed=SEED)  # fmt: skip  # warm up imports
    runs = []
    for _ in range(max(1, ns.repeat)):
        t0 = time.perf_counter()
        ours = near_duplicates(ids, texts, threshold=THRESHOLD, num_perm=NUM_PERM,
                               shingle=SHINGLE, seed=SEED)  # fmt: skip
        runs.append(time.perf_counter() - t0)
    t_ours = statistics.median(runs)
    print("bench: corpora near_duplicates runs " + ", ".join(f"{t:.2f}s" for t in runs)
          + " (the median is used)")  # fmt: skip
    t0 = time.perf_counter()
    base = plain_datasketch(ids, texts)
    t_base = time.perf_counter() - t0
    print(f"bench: corpora near_duplicates={t_ours:.2f}s ({len(ids) / t_ours:,.0f} docs/s, "
          f"{len(ours):,} dropped) plain datasketch={t_base:.2f}s "
          f"({len(ids) / t_base:,.0f} docs/s, {len(base):,} dropped)")  # fmt: skip
    # The noise floor of the comparison: the same estimator with another seed (independent hash
    # functions) disagrees with itself this much on documents near the threshold.
    other = near_duplicates(ids, texts, threshold=THRESHOLD, num_perm=NUM_PERM, shingle=SHINGLE,
                            seed=SEED + 1)  # fmt: skip
    floor = _agreement(set(ours), set(other), len(ids))
    print(f"bench: corpora agreement of near_duplicates seed {SEED} with seed {SEED + 1}: "
          f"{floor:.4f} (the estimator's own noise on this data)")  # fmt: skip
    if ns.reference:
        t0 = time.perf_counter()
        ref = near_duplicates_datasketch(ids, texts, threshold=THRESHOLD, num_perm=NUM_PERM,
                                         shingle=SHINGLE, seed=SEED)  # fmt: skip
        t_ref = time.perf_counter() - t0
        same = _agreement(set(ref), set(ours), len(ids))
        print(f"bench: corpora reference loop (same hashes)={t_ref:.2f}s, identical result: "
              f"{ref == ours}, agreement {same:.6f}")  # fmt: skip

    documents, maintenance = make_frames(records)
    with tempfile.TemporaryDirectory(prefix="bench-corpora-") as tmp:
        result, t_build, t_publish, t_second, reused, spent = timed_builds(
            documents, maintenance, Path(tmp)
        )
    st = result.stats
    t_first = t_build + t_publish
    print(f"bench: corpora build {st['in']:,} in -> {st['kept']:,} kept in {t_build:.2f}s "
          f"(+ publish {t_publish:.2f}s); dropped {st['dropped']}; tokenizer {st['tokenizer']}; "
          "stages " + ", ".join(f"{k}={v:.2f}s" for k, v in spent.items()))  # fmt: skip
    print(f"bench: corpora rebuild on unchanged inputs {t_second:.2f}s (reused the latest "
          f"version: {reused}) vs first build + publish {t_first:.2f}s")  # fmt: skip
    for stage, sec in spent.items():
        print(f"bench: corpora stage {stage}: {sec:.2f}s, {sec / t_build:.1%} of the build")

    print(f"bench: corpora.minhash_ratio {t_base / t_ours:.1f}")
    print(f"bench: corpora.minhash_agreement {_agreement(set(ours), base, len(ids)):.4f}")
    print(f"bench: corpora.minhash_agreement_seed_floor {floor:.4f}")
    if ns.reference:
        print(f"bench: corpora.minhash_agreement_same_hashes "
              f"{same:.4f}")  # fmt: skip
    print(f"bench: corpora.text_docs_per_s {st['in'] / t_build:.0f}")
    print(f"bench: corpora.rebuild_fraction {t_second / t_first:.4f}")
    for stage, sec in spent.items():
        print(f"bench: corpora.stage_share_{stage} {sec / t_build:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
