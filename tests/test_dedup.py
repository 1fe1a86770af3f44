"""Near dedup: the compiled path gives the clusters of the per-document datasketch loop and of a
plain datasketch MinHash + MinHashLSH loop."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from corpusmill.text.dedup import (
    LSH_MARGIN,
    _bulk_shingles,
    _lsh_bands,
    minhash_signatures,
    near_duplicates,
    near_duplicates_datasketch,
    shingle_hashes,
)

KW = {"threshold": 0.8, "num_perm": 128, "shingle": 5, "seed": 1}

BASE = (
    "CNC-07 主轴温度过高 spindle temperature 78.5 degC during the night shift; "
    "technician replaced the coolant pump and checked the bearing, 已复查 OK."
)
EDITED = BASE.replace("night shift", "night  Shift").replace("已复查", "已经复查")
UNRELATED = "注塑机3号 液压油泄漏 hydraulic oil leak at the main pump seal; seal replaced, tested at 20 MPa."
ALSO_UNRELATED = (
    "Line 2 conveyor belt loose, tightened belt and recalibrated the axis. 正常 no further issue."
)

WORDS = (
    "更换 轴承 主轴 温度 过高 冷却液 泵 检查 replaced bearing spindle coolant pump checked filter "
    "motor alarm reset 润滑 油 leak 漏油 vibration high 振动 seal 密封圈 tool 刀具 wiring 线路"
).split()


def generated(n: int, seed: int, *, clear_cut: bool = False) -> tuple[list[str], list[str]]:
    """``n`` texts: ~70% fresh (random words and numbers), ~30% lightly edited copies.

    By default a copy may be of a copy and have 0-2 edits, so some land near any threshold;
    ``clear_cut`` makes longer texts and copies only fresh ones, with one edit (Jaccard ~0.95,
    far from 0.8; unrelated texts stay far below).
    """
    rng = random.Random(seed)
    texts: list[str] = []
    fresh: list[str] = []
    for _ in range(n):
        if texts and rng.random() < 0.3:
            chars = list(rng.choice(fresh if clear_cut else texts))
            for _ in range(1 if clear_cut else rng.randint(0, 2)):
                chars[rng.randrange(len(chars))] = rng.choice("的了xyz0123")
            texts.append("".join(chars))
        else:
            n_words = rng.randint(40, 60) if clear_cut else rng.randint(12, 24)
            words = [rng.choice(WORDS) for _ in range(n_words)]
            fresh.append(f"WO-{rng.randrange(10**6):06d} " + " ".join(words))
            texts.append(fresh[-1])
    ids = [f"doc{k:05d}" for k in range(n)]
    rng.shuffle(ids)
    return ids, texts


def test_an_edited_copy_is_caught_and_names_the_lowest_id():
    got = near_duplicates(["b", "a", "c", "d"], [EDITED, BASE, UNRELATED, ALSO_UNRELATED], **KW)
    assert list(got) == ["b"]
    rep, j = got["b"]
    assert rep == "a"
    assert KW["threshold"] <= j <= 1.0


def test_the_representative_is_the_lowest_id_whichever_text_it_has():
    got = near_duplicates(["z", "m"], [BASE, EDITED], **KW)
    assert set(got) == {"z"} and got["z"][0] == "m"


def test_unrelated_documents_are_not_near_duplicates():
    assert near_duplicates(["a", "b", "c"], [BASE, UNRELATED, ALSO_UNRELATED], **KW) == {}


def test_identical_copies_have_jaccard_one_and_join_one_cluster():
    got = near_duplicates(["c", "a", "b"], [BASE, BASE, EDITED], **KW)
    assert got["c"] == ("a", 1.0)
    assert got["b"][0] == "a"


def test_small_inputs():
    assert near_duplicates([], [], **KW) == {}
    assert near_duplicates(["a"], [BASE], **KW) == {}
    with pytest.raises(ValueError, match="num_perm"):
        near_duplicates(["a", "b"], [BASE, EDITED], **{**KW, "num_perm": 2})


def test_deterministic_across_runs_and_input_order():
    ids, texts = generated(300, seed=5)
    first = near_duplicates(ids, texts, **KW)
    assert first  # the data has near copies
    assert near_duplicates(ids, texts, **KW) == first
    perm = list(range(len(ids)))
    random.Random(1).shuffle(perm)
    assert near_duplicates([ids[i] for i in perm], [texts[i] for i in perm], **KW) == first


@pytest.mark.parametrize("threshold", [0.5, 0.8, 0.95])
def test_same_clusters_as_the_per_document_datasketch_loop(threshold):
    ids, texts = generated(300, seed=int(threshold * 100))
    ids += ["e1", "e2", "s1", "s2"]
    texts += ["", " \n ", "ab", "ab"]  # no shingles (datasketch's empty MinHash), shorter than k
    kw = {**KW, "threshold": threshold}
    ours = near_duplicates(ids, texts, **kw)
    ref = near_duplicates_datasketch(ids, texts, **kw)
    assert ours == ref  # same dropped documents, representatives and estimates
    assert len(ours) > 20


@pytest.mark.parametrize("clear_cut", [True, False])
def test_a_plain_datasketch_loop_drops_the_same_documents(clear_cut):
    """A plain loop (sha1 of the UTF-8 shingles, datasketch defaults): the shingles hash the same,
    so the signatures, the candidates and the dropped documents are the same, also for
    documents near the threshold."""
    ids, texts = generated(400, seed=11, clear_cut=clear_cut)
    lsh = MinHashLSH(threshold=KW["threshold"] - LSH_MARGIN, num_perm=KW["num_perm"])
    kept: dict[str, MinHash] = {}
    plain: set[str] = set()
    for i in sorted(range(len(ids)), key=ids.__getitem__):
        norm = " ".join(texts[i].lower().split())
        mh = MinHash(num_perm=KW["num_perm"], seed=KW["seed"])
        mh.update_batch([norm[p : p + 5].encode("utf-8") for p in range(len(norm) - 4)])
        if any(mh.jaccard(kept[c]) >= KW["threshold"] for c in lsh.query(mh)):
            plain.add(ids[i])
        else:
            lsh.insert(ids[i], mh)
            kept[ids[i]] = mh
    ours = set(near_duplicates(ids, texts, **KW))
    assert len(plain) > 50
    assert ours == plain


def test_shingle_hashes_are_datasketchs_default_hash():
    from datasketch.hashfunc import sha1_hash32

    norm = "cnc-07 主轴温度"
    expected = sorted({sha1_hash32(norm[p : p + 5].encode("utf-8")) for p in range(len(norm) - 4)})
    assert shingle_hashes("  CNC-07\t主轴温度 ", 5) == expected
    assert shingle_hashes("Ab", 5) == [sha1_hash32(b"ab")]
    assert shingle_hashes(" \n", 5) == []


@pytest.mark.parametrize("k", [1, 3, 5, 6, 8])  # up to 6 the table key packs the code points
def test_bulk_shingles_match_the_per_text_hashes(k):
    texts = [BASE, "", "   ", "ab", "abcd", "abcde", "  Ab  CdE\tf ", UNRELATED, "中文字符串",
             "\U0010ffff\U0010fffe" * 5, BASE]  # fmt: skip
    hashes, counts = _bulk_shingles(texts, k)
    assert counts.sum() == hashes.size
    off = 0
    for text, n in zip(texts, counts.tolist(), strict=True):
        assert sorted(set(hashes[off : off + n].tolist())) == shingle_hashes(text, k)
        off += n


def test_signatures_are_datasketch_minhash_values():
    texts = [BASE, EDITED, UNRELATED, "", "ab"]
    hashes, counts = _bulk_shingles(texts, 5)
    sig = minhash_signatures(hashes, counts, num_perm=64, seed=3)
    for row, text in zip(sig, texts, strict=True):
        mh = MinHash(num_perm=64, seed=3, hashfunc=int)
        mh.update_batch(shingle_hashes(text, 5))
        np.testing.assert_array_equal(row, mh.hashvalues)


@pytest.mark.parametrize(("threshold", "num_perm"), [(0.7, 128), (0.5, 64), (0.8, 256)])
def test_banding_is_minhashlsh_s(threshold, num_perm):
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert _lsh_bands(threshold, num_perm) == (lsh.b, lsh.r)
