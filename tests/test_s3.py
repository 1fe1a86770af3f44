"""The lake on object storage: the sample factory run with ``CORPUSMILL_LAKE=s3://bucket/prefix``.

An S3-compatible server (moto, in its own process: deltalake blocks the calling thread, so an
in-process server could not answer) listens on loopback. The run must put every table, manifest,
quarantine, ledger, image and shard file in the bucket, nothing in the home's lake folder, answer
queries like a local run and never write the credentials anywhere.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from corpusmill import lake, sandbox, storage, versions
from corpusmill.corpora import CORPORA
from corpusmill.layout import Lake

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("s3")]

KEY_ID = f"AKIA{uuid.uuid4().hex[:16].upper()}"
SECRET = f"secret-{uuid.uuid4().hex}"
PREFIX = "plant/lake"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    """The URL of a moto S3 server on a free loopback port (its own process)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url, timeout=1).close()  # loopback http
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"moto server exited with {proc.returncode}") from None
                time.sleep(0.1)
        else:
            raise RuntimeError("moto server did not start within 30 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _client(url: str):
    import boto3

    return boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
    )  # fmt: skip


def _local_facts(home) -> dict:
    """Row counts of every view and each corpus's latest content hash, from a local run."""
    with sandbox.connect(home) as con:
        counts = {t: con.sql(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in con.tables()}
    at = Lake(home.lake)
    hashes = {c: versions.latest_manifest(at.table(c))["content_hash"]
              for c in CORPORA if lake.exists(at.table(c))}  # fmt: skip
    return {"counts": counts, "hashes": hashes}


@pytest.fixture(scope="module")
def on_s3(built, factory: Path, endpoint: str, tmp_path_factory: pytest.TempPathFactory):
    """(home, local facts, bucket, lake URI): the factory run into a lake on the moto server.

    The environment (credentials, endpoint, ``CORPUSMILL_LAKE``) stays set for the module's tests.
    """
    from corpusmill.home import activate
    from pipelines.runner import run_pipeline

    local = _local_facts(built[0])  # before the environment points at the bucket
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    _client(endpoint).create_bucket(Bucket=bucket)
    uri = f"s3://{bucket}/{PREFIX}"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
            "CORPUSMILL_LAKE": uri,
        }.items():  # fmt: skip
            mp.setenv(name, value)
        for name in ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
            mp.delenv(name, raising=False)
        home = activate(tmp_path_factory.mktemp("s3home"))
        assert home.lake == uri
        run_pipeline(factory / "sources.yaml", home)
        yield home, local, bucket, uri
    # the home object keeps its lake; later tests of this worker get their environment back


def _keys(endpoint: str, bucket: str) -> list[str]:
    client, keys = _client(endpoint), []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def test_every_lake_file_is_in_the_bucket(on_s3, endpoint: str) -> None:
    home, local, bucket, _uri = on_s3
    keys = _keys(endpoint, bucket)
    assert keys and all(k.startswith(PREFIX + "/") for k in keys)
    rel = {k.removeprefix(PREFIX + "/") for k in keys}

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in rel)

    for table in ("sensor_readings", "equipment", "text_corpus", "shard_plan", "shard_plans"):
        assert has(f"{table}/_delta_log/00000000000000000000.json"), table
    for corpus in local["hashes"]:
        assert has(f"_manifests/{corpus}/v"), corpus
    for folder in ("staged/", "standardized/", "_quarantine/ingest/", "_ledger/", "_aliases/",
                   "images/"):  # fmt: skip
        assert has(folder), folder
    shard_files = [k for k in rel if k.startswith("_shards/") and k.endswith(".parquet")]
    assert any(k.endswith("/plan.json") for k in rel if k.startswith("_shards/"))
    assert any("/shard-" in k for k in shard_files)
    # the shards table names the files in the bucket
    with sandbox.connect(home) as con:
        paths = [r[0] for r in con.sql("SELECT path FROM shards").fetchall()]
    assert paths and all(p.startswith(f"s3://{bucket}/{PREFIX}/_shards/") for p in paths)
    assert all(p.removeprefix(f"s3://{bucket}/{PREFIX}/") in rel for p in paths)


def test_nothing_of_the_lake_is_written_locally(on_s3) -> None:
    home, *_ = on_s3
    for folder in (home.root / "lake", home.root / "shards"):
        assert not folder.exists() or not any(folder.iterdir()), folder
    stray = [p for p in home.root.rglob("*") if p.suffix == ".parquet" or p.name == "_delta_log"]
    assert stray == []


def test_queries_answer_like_a_local_run(on_s3, ground_truth) -> None:
    home, local, *_ = on_s3
    with sandbox.connect(home) as con:
        tables = set(con.tables())
        counts = {t: con.sql(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    assert tables == set(local["counts"])
    assert counts == local["counts"]
    for name, truth in ground_truth["sources"].items():
        kept = sandbox.query(
            home, f"SELECT count(*) FROM {truth['table']} WHERE _source = '{name}'"
        ).item()
        assert kept == truth["kept"], name


def test_corpus_content_hashes_equal_a_local_run(on_s3) -> None:
    home, local, *_ = on_s3
    at = Lake(home.lake)
    hashes = {c: versions.latest_manifest(at.table(c))["content_hash"]
              for c in CORPORA if lake.exists(at.table(c))}  # fmt: skip
    assert hashes == local["hashes"] and hashes
    with sandbox.connect(home) as con:
        listed = dict(con.sql("SELECT corpus, content_hash FROM corpus_versions "
                              "QUALIFY version = max(version) OVER (PARTITION BY corpus)"
                              ).fetchall())  # fmt: skip
    assert listed == hashes
    # the manifest files in the bucket are the commits' manifests
    for corpus in hashes:
        m = versions.latest_manifest(at.table(corpus))
        saved = json.loads(storage.read_text(at.manifest(corpus, m["version"])))
        assert saved["content_hash"] == m["content_hash"]


def test_the_sandbox_reads_the_bucket_but_no_local_file(on_s3, tmp_path: Path) -> None:
    home, *_ = on_s3
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n", encoding="utf-8")
    with sandbox.connect(home) as con:
        assert con.sql("SELECT count(*) FROM sensor_readings").fetchone()[0] > 0
        import duckdb

        for sql in (f"SELECT * FROM read_csv('{outside}')",
                    f"SELECT * FROM read_parquet('{home.root}/**/*.parquet')"):  # fmt: skip
            with pytest.raises(duckdb.PermissionException):
                con.sql(sql).fetchall()
        with pytest.raises(sandbox.QueryRefused):
            con.sql("COPY sensor_readings TO 'x.parquet'")


def test_credentials_are_written_nowhere(on_s3, endpoint: str) -> None:
    home, _local, bucket, _uri = on_s3
    secrets = (KEY_ID.encode(), SECRET.encode())
    for path in home.root.rglob("*"):  # Dagster's event log (SQLite), the catalog, state, logs
        if path.is_file():
            data = path.read_bytes()
            assert not any(s in data for s in secrets), path
    client = _client(endpoint)
    for key in _keys(endpoint, bucket):
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert not any(s in body for s in secrets), key
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home.dagster))
    try:
        for record in instance.get_run_records():
            for entry in instance.all_logs(record.dagster_run.run_id):
                text = dg.serialize_value(entry)
                assert KEY_ID not in text and SECRET not in text
    finally:
        instance.dispose()


def test_locations_keep_their_kind_and_bad_ones_are_refused(tmp_path: Path) -> None:
    at = Lake("s3://bucket/prefix/")
    assert at.root == "s3://bucket/prefix"
    assert at.ledger("line") == "s3://bucket/prefix/_ledger/line"
    assert storage.relative(at.data_card("text_corpus", 3), at.root) == "_manifests/text_corpus/v3.md"
    local = Lake(str(tmp_path))
    assert local.ledger("line") == tmp_path / "_ledger" / "line"
    with pytest.raises(ValueError, match="unsupported lake location scheme 'gs'"):
        Lake("gs://bucket/prefix")
    with pytest.raises(ValueError, match="no bucket"):
        Lake("s3:///prefix")


def test_storage_options_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert storage.storage_options("/a/local/lake") is None
    assert storage.storage_options("s3://b/p") == {
        "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "eu-central-1",
        "AWS_ALLOW_HTTP": "true",
    }  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://minio.internal:9000")
    assert "AWS_ALLOW_HTTP" not in storage.storage_options("s3://b/p")
    fs, path = storage.filesystem("s3://b/p/x")
    assert path == "b/p/x" and fs.type_name == "s3"
    assert SECRET not in repr(Lake("s3://b/p"))


def _replace_rows_worker(table: str, writer: int, env: dict[str, str]) -> None:
    import os

    import polars as pl

    os.environ.update(env)
    for n in range(5):
        frame = pl.DataFrame({"key": [f"{writer}:{n}"], "writer": [str(writer)], "n": [n]})
        lake.replace_rows(table, frame, where={"key": f"{writer}:{n}"})


def test_concurrent_writers_to_one_new_table_lose_no_commit(endpoint: str) -> None:
    """Three processes create and append to one table at once: conditional writes, no lock."""
    import multiprocessing

    bucket = f"race-{uuid.uuid4().hex[:12]}"
    _client(endpoint).create_bucket(Bucket=bucket)
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1"}  # fmt: skip
    table = f"s3://{bucket}/lake/_ledger/shared"
    ctx = multiprocessing.get_context("spawn")  # deltalake's runtime does not survive a fork
    procs = [ctx.Process(target=_replace_rows_worker, args=(table, w, env)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        rows = lake.read(table).sort("writer", "n")
    assert rows.height == 15
    assert rows.group_by("writer").len().sort("writer")["len"].to_list() == [5, 5, 5]
