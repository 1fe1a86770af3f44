"""Trainer formats: every shard read back with the trainer's own reader (webdataset, json,
pyarrow), every assigned sample exactly once across the ranks of plan.json."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from corpusmill.compute import Catalog, TrainingJob
from corpusmill.shards import plan_shards, write_shards

CATALOG = Catalog.model_validate(
    {
        "data_region": "r1",
        "pools": [
            {"name": "big", "accelerator": "X", "count": 4, "memory_gib": 40,
             "tokens_per_s": 20_000, "region": "r1", "price_per_device_hour": 2.0,
             "availability": 1.0},
            {"name": "small", "accelerator": "Y", "count": 2, "memory_gib": 24,
             "tokens_per_s": 8_000, "region": "r1", "price_per_device_hour": 0.5,
             "availability": 1.0},
        ],
    }
)  # fmt: skip
JOB = TrainingJob(
    corpus="text_corpus", model_class="m", seq_len=512, global_batch=64, target_shard_mib=0.05
)
ALL = ("parquet", "jsonl", "webdataset")


def text_corpus(n=1_200):
    df = pl.DataFrame({"doc_id": [f"doc-{i:05d}.v1" for i in range(n)]})  # ids with dots
    body = [f"body of doc-{i:05d}.v1 " * (i % 7 + 1) for i in range(n)]
    return df.with_columns(
        text=pl.Series(body),
        n_tokens=(pl.int_range(n) % 7 + 1) * 5,
        language=pl.lit("en"),
    )


def items_of(corpus, id_column):
    return corpus.select(
        pl.col(id_column).alias("item_id"),
        pl.col("n_tokens").cast(pl.Int64),
        (pl.col("n_tokens") * 4).cast(pl.Int64).alias("n_bytes"),
    )


def plan_doc(tmp_path, plan):
    return json.loads((tmp_path / plan.plan_id / "plan.json").read_text())


def test_each_format_reads_back_every_sample_once_across_ranks(tmp_path):
    corpus = text_corpus()
    plan = plan_shards(items_of(corpus, "doc_id"), CATALOG, JOB)
    done = write_shards(plan, corpus, tmp_path, id_column="doc_id", formats=ALL)
    assert done.summary["write"] == {"written": 3 * plan.shards.height + 2, "skipped": 0}
    doc = plan_doc(tmp_path, plan)
    readers = doc["readers"]
    assert readers["global_batch"] == 64
    ranks = [r for p in readers["pools"].values() for r in p["ranks"]]
    assert len(ranks) == 6  # 4 + 2 devices
    assert sum(r["batch_per_step"] for r in ranks) == 64
    assert all(r["shards"] for r in ranks)  # whole shards, every rank has some
    by_id = dict(corpus.select("doc_id", "text").iter_rows())

    seen = {"webdataset": Counter(), "jsonl": Counter(), "parquet": Counter()}
    for rank in ranks:
        urls = [str(tmp_path / f) for f in rank["files"]["webdataset"]]
        for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
            meta = json.loads(sample["json"])
            assert sample["txt"].decode() == by_id[meta["doc_id"]]
            seen["webdataset"][meta["doc_id"]] += 1
        for f in rank["files"]["jsonl"]:
            for line in (tmp_path / f).read_text().splitlines():
                row = json.loads(line)
                assert row["text"] == by_id[row["doc_id"]]
                seen["jsonl"][row["doc_id"]] += 1
        for f in rank["files"]["parquet"]:
            seen["parquet"].update(pq.read_table(tmp_path / f)["doc_id"].to_pylist())
    for fmt, counts in seen.items():
        assert set(counts) == set(by_id), fmt
        assert set(counts.values()) == {1}, fmt
    # rank batch shares follow the rank's samples: every rank runs out at about the same step
    steps = [r["samples"] / r["batch_per_step"] for r in ranks]
    assert max(steps) / min(steps) <= 1.2


def test_rewrite_skips_identical_tar_and_jsonl_files(tmp_path):
    corpus = text_corpus(300)
    plan = plan_shards(items_of(corpus, "doc_id"), CATALOG, JOB)
    first = write_shards(plan, corpus, tmp_path, id_column="doc_id", formats=ALL)
    again = write_shards(plan, corpus, tmp_path, id_column="doc_id", formats=ALL)
    n = first.summary["write"]["written"]
    assert again.summary["write"] == {"written": 0, "skipped": n}
    assert first.shards["file"][0].endswith(".parquet")


def test_windows_become_npy_arrays(tmp_path):
    n = 200
    windows = pl.DataFrame(
        {
            "window_id": [f"w:{i:04d}" for i in range(n)],
            "channels": [["temp", "vib"]] * n,
            "values": [[[float(i), float(i) + 0.5, 1.0], [2.0 * i, 0.0, -1.0]] for i in range(n)],
            "n_steps": [3] * n,
            "label": pl.Series([i % 3 == 0 for i in range(n)], dtype=pl.Int8),
            "start_utc": pl.datetime_range(
                pl.datetime(2026, 1, 1, time_zone="UTC"),
                pl.datetime(2026, 1, 1, time_zone="UTC") + pl.duration(minutes=n - 1),
                "1m", eager=True,
            ),
        }
    )  # fmt: skip
    items = windows.select(
        pl.col("window_id").alias("item_id"),
        n_tokens=pl.lit(6, pl.Int64),
        n_bytes=pl.lit(48, pl.Int64),
    )
    plan = plan_shards(items, CATALOG, JOB.model_copy(update={"corpus": "timeseries_windows"}))
    write_shards(plan, windows, tmp_path, id_column="window_id", formats=("jsonl", "webdataset"))
    urls = sorted(str(p) for p in (tmp_path / plan.plan_id).glob("*.tar"))
    got = {}
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode():
        got[sample["json"]["window_id"]] = (sample["npy"], sample["json"])
    assert len(got) == n
    arr, meta = got["w:0007"]
    assert arr.shape == (2, 3) and arr.dtype == np.float64
    np.testing.assert_array_equal(arr, [[7.0, 7.5, 1.0], [14.0, 0.0, -1.0]])
    assert meta["label"] == 0 and meta["channels"] == ["temp", "vib"]
    assert meta["start_utc"].startswith("2026-01-01 00:07:00")
    lines = [
        json.loads(line)
        for p in sorted((tmp_path / plan.plan_id).glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]
    assert len(lines) == n
    assert next(r for r in lines if r["window_id"] == "w:0007")["values"][1] == [14.0, 0.0, -1.0]


def _png(color):
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), color).save(buf, format="PNG")
    return buf.getvalue()


def _jpg(color):
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), color).save(buf, format="JPEG")
    return buf.getvalue()


def test_images_are_written_as_their_bytes_with_the_format_key(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "c.jpg").write_bytes(_jpg("blue"))
    images = pl.DataFrame(
        {
            "image_id": ["a", "b", "c"],
            "content": [_png("red"), _jpg("green"), None],
            "image_format": ["PNG", None, None],  # b: told by its JPEG signature
            "image_path": [None, None, "img/c.jpg"],
        },
        schema_overrides={"content": pl.Binary},
    )
    items = images.select(pl.col("image_id").alias("item_id"), n_tokens=pl.lit(1, pl.Int64),
                          n_bytes=pl.lit(100, pl.Int64))  # fmt: skip
    plan = plan_shards(items, CATALOG, JOB)
    write_shards(plan, images, tmp_path / "out", id_column="image_id", formats=("webdataset",),
                 image_dir=tmp_path)  # fmt: skip
    urls = sorted(str(p) for p in (tmp_path / "out" / plan.plan_id).glob("*.tar"))
    got = {}
    for s in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        ext = next(k for k in s if k in ("png", "jpg"))
        got[json.loads(s["json"])["image_id"]] = (ext, s[ext])
    assert got["a"] == ("png", _png("red"))
    assert got["b"] == ("jpg", _jpg("green"))
    assert got["c"] == ("jpg", (tmp_path / "img" / "c.jpg").read_bytes())
    assert "content" not in json.loads(
        next(iter(wds.WebDataset(urls[:1], shardshuffle=False, empty_check=False)))["json"]
    )


def test_unknown_format_and_missing_image_are_refused(tmp_path):
    corpus = text_corpus(50)
    plan = plan_shards(items_of(corpus, "doc_id"), CATALOG, JOB)
    with pytest.raises(ValueError, match=r"unknown shard format\(s\) \['tfrecord'\]"):
        write_shards(plan, corpus, tmp_path, id_column="doc_id", formats=("tfrecord",))
    images = pl.DataFrame({"image_id": ["a"], "image_path": ["nope.png"]})
    items = pl.DataFrame({"item_id": ["a"], "n_tokens": [1], "n_bytes": [1]})
    one = plan_shards(items, CATALOG, JOB)
    with pytest.raises(FileNotFoundError, match=r"row 'a': image_path .*nope.png"):
        write_shards(one, images, tmp_path, id_column="image_id", formats=("webdataset",),
                     image_dir=tmp_path)  # fmt: skip
