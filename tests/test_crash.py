"""SIGKILL a `corpusmill run` at 20 points spread over every stage; nothing is ever corrupt.

Each case: a home built on the first two days of a small factory (historian, maintenance logs,
manuals), then the third day lands and `corpusmill run` is killed at one crash point
(:mod:`corpusmill.faults`). After the kill, every table still reads back its earlier versions
unchanged and the catalog answers queries; a rerun then completes, and the home equals one built
on the same files without interruption: the same rows in every table, the same corpus content
hashes, no duplicate rows, every file a table references present and no temporary file left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from corpusmill import lake
from corpusmill.home import Home, activate

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("crash")]

SOURCES = ("modern_historian", "maintenance_logs", "manuals")
LATE = ("modern/historian/historian_2024-03-07.parquet", "maintenance/cmms_20240307.jsonl",
        "docs/press_manual_rev_b.md")  # fmt: skip

# (crash point, where): spread over ingest, standardize, validate, corpora, catalog and shards
POINTS = [
    ("lake.write.before", "staged/modern_historian"),
    ("lake.write.after", "staged/modern_historian"),
    ("lake.write.after", "_quarantine/ingest/modern_historian"),
    ("lake.write.before", "_ledger/modern_historian"),
    ("lake.write.after", "staged/maintenance_logs"),
    ("lake.write.after", "_ledger/manuals"),
    ("lake.write.before", "standardized/sensor_readings"),
    ("lake.write.after", "standardized/sensor_readings"),
    ("lake.write.after", "standardized/maintenance_records"),
    ("lake.write.before", "standardized/documents"),
    ("lake.write.before", "lake/sensor_readings"),
    ("lake.write.after", "lake/sensor_readings"),
    ("lake.write.after", "lake/maintenance_records"),
    ("lake.write.before", "lake/text_corpus"),
    ("corpus.manifest.before", "text_corpus"),
    ("lake.write.after", "lake/timeseries_windows_excluded"),
    ("corpus.manifest.before", "sft_pairs"),
    ("catalog.replace.before", ""),
    ("shard.replace.before", ""),
    ("lake.write.after", "lake/shards"),
]


def _factory_subset(factory: Path, out: Path, *, late: bool) -> Path:
    doc = yaml.safe_load((factory / "sources.yaml").read_text(encoding="utf-8"))
    doc["sources"] = [s for s in doc["sources"] if s["name"] in SOURCES]
    if out.exists():
        shutil.rmtree(out)
    for folder in ("modern/historian", "maintenance", "docs"):
        shutil.copytree(factory / folder, out / folder)
    if not late:
        for rel in LATE:
            (out / rel).unlink()
    (out / "sources.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return out / "sources.yaml"


def _land_late_files(factory: Path, data: Path) -> None:
    for rel in LATE:
        shutil.copy2(factory / rel, data / rel)


def _tables(home: Home) -> dict[str, Path]:
    return {str(log.parent.relative_to(home.lake)): log.parent for log in home.lake.rglob("_delta_log")}


def _state(home: Home) -> dict[str, object]:
    """What a finished home holds: rows per table (and distinct rows), corpus content hashes."""
    from corpusmill import versions
    from corpusmill.corpora import CORPORA
    from corpusmill.layout import Lake

    rows = {}
    for name, path in _tables(home).items():
        df = lake.read(path).drop(lake.RUN_STAMPS, strict=False)
        cols = [c for c, t in df.schema.items() if not isinstance(t, pl.List | pl.Array | pl.Struct)]
        rows[name] = (df.height, df.select(cols).unique().height if cols else df.height)
    hashes = {c: versions.latest_manifest(Lake(home.lake).table(c))["content_hash"]
              for c in CORPORA if lake.exists(Lake(home.lake).table(c))}  # fmt: skip
    return {"rows": rows, "corpora": hashes}


def _snapshot(home: Home) -> dict[str, tuple[int, str]]:
    return {name: (lake.open_table(p).version(), lake.fingerprint(lake.read(p)))
            for name, p in _tables(home).items()}  # fmt: skip


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("corpusmill")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(factory: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder reused by every case (so provenance paths are the same everywhere)."""
    return tmp_path_factory.mktemp("crash-data")


@pytest.fixture(scope="module")
def reference(factory: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The home an uninterrupted run builds: the first two days, then the third."""
    from pipelines.runner import run_pipeline

    sources = _factory_subset(factory, data_dir / "data", late=False)
    home = activate(tmp_path_factory.mktemp("crash-reference"))
    run_pipeline(sources, home)
    _land_late_files(factory, data_dir / "data")
    run_pipeline(sources, home)
    return _state(home)


@pytest.mark.parametrize(("point", "where"), POINTS, ids=[f"{p}@{w}" for p, w in POINTS])
def test_killed_run_recovers(point: str, where: str, factory: Path, data_dir: Path,
                             reference, tmp_path: Path) -> None:  # fmt: skip
    from pipelines.runner import run_pipeline

    sources = _factory_subset(factory, data_dir / "data", late=False)
    home = activate(tmp_path / "home")
    run_pipeline(sources, home)
    before = _snapshot(home)
    _land_late_files(factory, data_dir / "data")

    killed = _cli("run", "--sources", str(sources), "--home", str(home.root), "--no-summary",
                  env={"CORPUSMILL_CRASH_AT": f"{point}@{where}"})  # fmt: skip
    assert killed.returncode == -9, f"the crash point was never reached:\n{killed.stderr[-2000:]}"

    for name, (version, fp) in before.items():  # earlier versions read back unchanged
        assert lake.fingerprint(lake.read(_tables(home)[name], version=version)) == fp, name
    answered = _cli("query", "--home", str(home.root), "select count(*) as n from sensor_readings")
    assert answered.returncode == 0, answered.stdout + answered.stderr

    run_pipeline(sources, home)
    assert _state(home) == reference
    for name, path in _tables(home).items():  # every file a table references is there
        missing = [f for f in lake.files(path) if not Path(f).exists()]
        assert not missing, (name, missing)
    leftovers = [p for p in home.root.rglob("*") if p.name.endswith((".tmp", ".tmp.wal"))]
    assert not leftovers, leftovers
    assert not home.tmp.exists()
