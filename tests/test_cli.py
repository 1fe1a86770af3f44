"""The `corpusmill` command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "pipelines.cli"]


def cli(*args: str, home: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, GX_ANALYTICS_ENABLED="false")
    env.pop("CORPUSMILL_HOME", None)
    env.pop("DAGSTER_HOME", None)
    cmd = [*CLI, *args] + (["--home", str(home)] if home else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(f"{cmd} exited {out.returncode}:\n{out.stderr[-3000:]}")
    return out


@pytest.mark.parametrize("command", ["", "generate", "run", "query", "demo", "dev", "status", "plan"])
def test_every_command_has_help(command: str) -> None:
    out = cli(*([command] if command else []), "--help")
    assert "Usage:" in out.stdout
    if command:
        assert "--home" in out.stdout


def test_generate_is_seeded(tmp_path: Path) -> None:
    cli("generate", "--out", str(tmp_path / "a"), "--seed", "3")
    cli("generate", "--out", str(tmp_path / "b"), "--seed", "3")
    a = (tmp_path / "a" / "ground_truth.json").read_bytes()
    assert a == (tmp_path / "b" / "ground_truth.json").read_bytes()
    assert (tmp_path / "a" / "sources.yaml").exists()


def test_bad_sources_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text(
        "sources:\n"
        "  - {name: line1, site: s, kind: sensor, path: x.csv, format: csvv}\n"
        "  - {name: line2, site: s, kind: sensor, path: y.csv, format: csv, colums: [a]}\n",
        encoding="utf-8",
    )
    out = cli("run", "--sources", str(bad), home=tmp_path / "home", check=False)
    assert out.returncode == 2
    assert "source 'line1'" in out.stderr and "format" in out.stderr
    assert "source 'line2'" in out.stderr and "colums" in out.stderr
    assert "unknown key" in out.stderr


@pytest.mark.slow
@pytest.mark.xdist_group("cli")
def test_run_and_query_the_real_datasets(tmp_path: Path) -> None:
    home = tmp_path / "home"
    sources = REPO / "examples" / "real-datasets" / "sources.yaml"
    out = cli("run", "--sources", str(sources), "--no-summary", home=home)
    assert "done" in out.stderr
    table = cli("query", "SELECT count(*) AS n FROM maintenance_records", home=home)
    assert "5478" in table.stdout  # 5485 work orders - 1 shifted row - 6 negative costs
    rows = list(csv.DictReader(io.StringIO(cli(
        "query", "SELECT _source, count(*) AS n FROM sensor_readings GROUP BY 1 ORDER BY 1",
        "--format", "csv", home=home).stdout)))  # fmt: skip
    assert rows == [{"_source": "dryer_batches", "n": "92200"},
                    {"_source": "nylon_batches", "n": "66410"}]  # fmt: skip
    quarantined = json.loads(cli(
        "query", 'SELECT _row, "column", raw_value, "check" FROM quarantine ORDER BY _row',
        "--format", "json", home=home).stdout)  # fmt: skip
    assert {"_row": 3453, "column": "Cost", "raw_value": "PM01", "check": "non_numeric"} in quarantined
    assert len(quarantined) == 7
    bad = cli("query", "SELECT * FROM no_such_table", home=home, check=False)
    assert bad.returncode == 1 and "no_such_table" in bad.stderr
    status = cli("status", home=home)
    assert "maintenance_records" in status.stdout


@pytest.mark.slow
@pytest.mark.xdist_group("cli")
def test_demo_prints_the_summary(tmp_path: Path) -> None:
    out = cli("demo", home=tmp_path / "home")
    for heading in ("Rows per canonical table", "Rows quarantined, by stage and reason",
                    "Corpus versions", "Shard plan per training job and pool"):  # fmt: skip
        assert heading in out.stdout
    assert "non_numeric" in out.stdout and "text_corpus" in out.stdout
    assert "check failed" not in out.stdout, out.stdout
    assert (tmp_path / "home" / "dagster" / "dagster.yaml").exists()
    assert (tmp_path / "home" / "catalog.duckdb").exists()


@pytest.mark.slow
@pytest.mark.xdist_group("cli")
def test_a_failed_step_is_one_line_with_asset_partition_file_and_run_id(tmp_path: Path) -> None:
    """A join file whose key is not unique fails the ingest step: the CLI prints one line naming
    the asset, the partition (the source) and the file, plus the Dagster run id; no stack trace."""
    data = tmp_path / "lab"
    data.mkdir()
    (data / "results.csv").write_text("id,c,v,r,lot\n1,bore,1.0,pass,L1\n", encoding="utf-8")
    (data / "lots.csv").write_text("lot,line\nL1,a\nL1,b\n", encoding="utf-8")
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n"
        "  - name: lab\n    site: s\n    kind: quality\n    path: lab/results.csv\n    format: csv\n"
        "    fields: {inspection_id: id, characteristic: c, value: v, result: r, lot_id: lot}\n"
        '    join:\n      - {path: lab/lots.csv, format: csv, "on": {lot: lot}}\n',
        encoding="utf-8",
    )
    out = cli("run", "--sources", str(sources), "--no-summary", home=tmp_path / "home", check=False)
    assert out.returncode == 1, out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert "Traceback" not in text and "Stack Trace" not in text and "File \"" not in text
    failed = [ln for ln in out.stderr.splitlines() if ln.startswith("✗ ")]
    assert failed == [
        f"✗ staged_quality_inspections [partition lab]: join file {data / 'lots.csv'}: key ['lot'] "
        "is not unique (2 rows share a key)"
    ]
    (header,) = [ln for ln in out.stderr.splitlines() if ln.startswith("run failed")]
    run_id = header.split("Dagster run ")[1].split(";")[0]
    assert len(run_id) == 36 and (tmp_path / "home" / "dagster").exists()
