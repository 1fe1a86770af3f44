"""Ingest from object storage: moto's S3 server on loopback stands in for a plant's bucket."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import polars as pl
import pytest

from corpusmill import config, lake
from corpusmill.ingest import IngestError, conservation, ingest_source, pending_files
from corpusmill.layout import Lake

pytestmark = pytest.mark.slow  # starts a server

HEADER = "time,machine,tag,value\n"
A = HEADER + "2024-01-01 08:00:00,CNC-01,temp,1.5\n2024-01-01 08:01:00,CNC-01,temp,2.5\n"
B = HEADER + "2024-01-01 08:02:00,CNC-01,temp,Bad\n2024-01-01 08:03:00,CNC-01,temp,4.5\n"

SOURCES = """\
version: 1
data_roots: ["s3://{bucket}/plant"]
sites:
  plant: {{timezone: Asia/Shanghai}}
equipment:
  - {{id: plant/machining/line1/cnc-01, aliases: [CNC-01]}}
sources:
  - name: line
    site: plant
    kind: sensor
    path: {path}
    format: csv
    fields: {{ts_utc: time, equipment_id: machine, signal: tag, value: value}}
"""


@pytest.fixture(scope="module")
def s3():
    """(boto3 client, endpoint url) of a moto S3 server on a free loopback port."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip
    try:
        yield client, url
    finally:
        server.stop()


@pytest.fixture
def bucket(s3):
    """A fresh bucket per test holding plant/a.csv and plant/b.csv, and one object outside."""
    client, _url = s3
    name = f"plant-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="plant/a.csv", Body=A.encode())
    client.put_object(Bucket=name, Key="plant/b.csv", Body=B.encode())
    client.put_object(Bucket=name, Key="other/c.csv", Body=A.encode())
    client.put_object(Bucket=name, Key="plant-evil/d.csv", Body=A.encode())
    return name


def _options(url: str, style: str = "top") -> dict:
    if style == "top":
        return {"key": "x", "secret": "x", "endpoint_url": url}
    return {"key": "x", "secret": "x", "client_kwargs": {"endpoint_url": url}}


def _cfg(tmp_path: Path, bucket: str, path: str):
    yml = tmp_path / "sources.yaml"
    yml.write_text(SOURCES.format(bucket=bucket, path=path), encoding="utf-8")
    return config.load(yml)


def _status(result) -> dict[str, str]:
    return {f.file.rsplit("/", 1)[-1]: f.status for f in result.files}


@pytest.mark.parametrize("style", ["top", "client_kwargs"])
def test_s3_ingest_rows_quarantine_and_rerun(tmp_path, s3, bucket, style):
    _client, url = s3
    opts = _options(url, style)
    cfg = _cfg(tmp_path, bucket, f"s3://{bucket}/plant/*.csv")
    src, root = cfg.source("line"), tmp_path / "lake"
    assert set(pending_files(cfg, src, root, storage_options=opts)) == {
        f"s3://{bucket}/plant/a.csv", f"s3://{bucket}/plant/b.csv"
    }  # fmt: skip
    res = ingest_source(cfg, src, root, run_id="r1", storage_options=opts)
    assert _status(res) == {"a.csv": "ingested", "b.csv": "ingested"}
    df = pl.read_delta(str(Lake(root).staged("line"))).sort("_file", "_row")
    assert df.select("_file", "_row", "value").rows() == [
        (f"s3://{bucket}/plant/a.csv", 1, 1.5),
        (f"s3://{bucket}/plant/a.csv", 2, 2.5),
        (f"s3://{bucket}/plant/b.csv", 2, 4.5),
    ]
    assert df["ts_utc"].dt.hour().to_list() == [0, 0, 0]
    assert set(df["equipment_id"]) == {"plant/machining/line1/cnc-01"}
    q = pl.read_delta(str(Lake(root).quarantine("ingest", "line")))
    assert q.select("_file", "_row", "check", "raw_value").rows() == [
        (f"s3://{bucket}/plant/b.csv", 1, "non_numeric", "Bad")
    ]
    assert conservation(root, "line") == {"units_in": 4, "rows_kept": 3, "rows_quarantined": 1}

    # idempotent: nothing pending, nothing written
    version = lake.open_table(Lake(root).staged("line")).version()
    ledger_version = lake.open_table(Lake(root).ledger("line")).version()
    assert pending_files(cfg, src, root, storage_options=opts) == {}
    res = ingest_source(cfg, src, root, run_id="r2", storage_options=opts)
    assert _status(res) == {"a.csv": "unchanged", "b.csv": "unchanged"}
    assert lake.open_table(Lake(root).staged("line")).version() == version
    assert lake.open_table(Lake(root).ledger("line")).version() == ledger_version
    assert set(pl.read_delta(str(Lake(root).staged("line")))["_run_id"]) == {"r1"}


def test_s3_new_changed_and_removed_objects(tmp_path, s3, bucket):
    client, url = s3
    opts = _options(url)
    cfg = _cfg(tmp_path, bucket, f"s3://{bucket}/plant/*.csv")
    src, root = cfg.source("line"), tmp_path / "lake"
    ingest_source(cfg, src, root, run_id="r1", storage_options=opts)

    e_bytes = A.replace("1.5", "9.5").encode()
    b_bytes = (HEADER + "2024-01-01 08:09:00,CNC-01,temp,7\n").encode()
    client.put_object(Bucket=bucket, Key="plant/e.csv", Body=e_bytes)
    client.put_object(Bucket=bucket, Key="plant/b.csv", Body=b_bytes)
    client.delete_object(Bucket=bucket, Key="plant/a.csv")
    assert pending_files(cfg, src, root, storage_options=opts) == {
        f"s3://{bucket}/plant/a.csv": "removed",
        f"s3://{bucket}/plant/b.csv": hashlib.sha256(b_bytes).hexdigest(),
        f"s3://{bucket}/plant/e.csv": hashlib.sha256(e_bytes).hexdigest(),
    }
    res = ingest_source(cfg, src, root, run_id="r2", storage_options=opts)
    assert _status(res) == {"b.csv": "ingested", "e.csv": "ingested"}
    assert res.removed == [f"s3://{bucket}/plant/a.csv"]
    df = pl.read_delta(str(Lake(root).staged("line"))).sort("_file", "_row")
    assert df.select("_file", "value", "_run_id").rows() == [
        (f"s3://{bucket}/plant/b.csv", 7.0, "r2"),
        (f"s3://{bucket}/plant/e.csv", 9.5, "r2"),
        (f"s3://{bucket}/plant/e.csv", 2.5, "r2"),
    ]
    assert pl.read_delta(str(Lake(root).quarantine("ingest", "line"))).height == 0
    assert conservation(root, "line") == {"units_in": 3, "rows_kept": 3, "rows_quarantined": 0}
    assert pending_files(cfg, src, root, storage_options=opts) == {}


@pytest.mark.parametrize(
    "path",
    [
        "s3://{b}/other/*.csv",  # another prefix of the same bucket
        "s3://{b}/plant-evil/d.csv",  # a prefix that only starts like the root
        "s3://{b}/plant/../other/c.csv",  # a dot-dot segment
    ],
)
def test_s3_path_outside_the_root_is_refused(tmp_path, s3, bucket, path):
    _client, url = s3
    cfg = _cfg(tmp_path, bucket, path.format(b=bucket))
    root = tmp_path / "lake"
    with pytest.raises(IngestError, match="outside the declared data roots"):
        ingest_source(cfg, cfg.source("line"), root, run_id="r1", storage_options=_options(url))
    assert not root.exists() or not any(root.rglob("_delta_log"))
