"""The production instance: Dagster's runs, events and checks stored in a real PostgreSQL server.

A module fixture starts Debian's PostgreSQL (``initdb`` + ``pg_ctl``, as the ``postgres`` user when
the tests run as root, since initdb refuses root) on 127.0.0.1 and a free port, in a temporary
folder that user can reach. A home gets an operator-written ``dagster.yaml`` with
``storage: postgres``; ``corpusmill run`` (a subprocess, so DAGSTER_HOME stays out of this process)
builds the sample factory into it, and the test reads the run history back from PostgreSQL.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from corpusmill.compute import load_jobs

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("postgres")]

REPO = Path(__file__).resolve().parents[1]
_STEERING = ("DAGSTER_HOME", "CORPUSMILL_HOME", "CORPUSMILL_SOURCES")

DAGSTER_YAML = """\
# The production instance: runs, event logs and schedules in PostgreSQL.
telemetry:
  enabled: false
storage:
  postgres:
    postgres_url: "postgresql+psycopg2://postgres@127.0.0.1:{port}/dagster"
local_artifact_storage:
  module: dagster._core.storage.root
  class: LocalArtifactStorage
  config:
    base_dir: {artifacts}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert found, "PostgreSQL is not installed: run scripts/test-deps.sh (Debian package postgresql)"
    return Path(found[-1]).parent


def _as_db_user(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def postgres() -> Iterator[int]:
    """A running PostgreSQL server with a ``dagster`` database; yields its port."""
    bin_dir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="corpusmill-pg-"))
    root.chmod(0o777)  # reachable by the postgres user (pytest's tmp folders are root-only)
    data, log = root / "data", root / "server.log"
    port = _free_port()
    subprocess.run(_as_db_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                                "-A", "trust", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True)  # fmt: skip
    opts = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off"
    subprocess.run(_as_db_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log),
                                "-o", opts, "-w", "-t", "60", "start"]),
                   check=True, capture_output=True)  # fmt: skip
    try:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        con.autocommit = True
        con.cursor().execute("CREATE DATABASE dagster")
        con.close()
        yield port
    finally:
        subprocess.run(_as_db_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast",
                                    "-w", "stop"]), capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def test_runs_and_materializations_are_stored_in_postgres(postgres: int, factory: Path,
                                                         tmp_path: Path) -> None:  # fmt: skip
    import dagster as dg

    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    yaml_path = home / "dagster" / "dagster.yaml"
    yaml_path.write_text(DAGSTER_YAML.format(port=postgres, artifacts=home / "dagster"))
    env = {k: v for k, v in os.environ.items() if k not in _STEERING}
    env.update(GX_ANALYTICS_ENABLED="false", DAGSTER_DISABLE_TELEMETRY="true")
    out = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--sources",
                          str(factory / "sources.yaml"), "--no-summary", "--home", str(home)],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=900)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "storage:\n  postgres:" in yaml_path.read_text(), "corpusmill replaced the operator's file"

    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"  # not SQLite
        runs = instance.get_runs()
        # One run per ingest asset (six canonical source kinds), the build up to the corpora, and
        # one shard plan run per training job (the packaged file has three).
        jobs = [j.name for j in load_jobs()]
        assert len(jobs) == 3 and len(runs) == 6 + 1 + len(jobs)
        assert all(r.is_success for r in runs)
        plans = {r.tags.get("dagster/partition") for r in runs if r.tags.get("dagster/partition")}
        assert set(jobs) <= plans
        assert {r.tags.get("corpusmill/trigger") for r in runs} == {"corpusmill run"}
        mat = instance.get_latest_materialization_event(dg.AssetKey("quality_inspections"))
        assert mat is not None and mat.asset_materialization.metadata["dagster/row_count"].value == 106
        staged = instance.fetch_materializations(dg.AssetKey("staged_sensor_readings"), limit=10)
        assert sorted(r.partition_key for r in staged.records) == [
            "modern_historian", "traditional_historian", "wide_historian"]  # fmt: skip
        check = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("quality_inspections"), "quality_inspections_suite"), limit=1
        )
        assert [c.status.value for c in check] == ["SUCCEEDED"]
    finally:
        instance.dispose()
