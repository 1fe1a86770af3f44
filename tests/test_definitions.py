"""The code location loads, names its assets as documented, and loads fast (GX stays lazy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.definitions import build_definitions

REPO = Path(__file__).resolve().parents[1]

#: The public names (asset keys) of the sample factory's graph. A rename shows up here in review.
EXPECTED_KEYS = sorted(
    [
        "documents", "equipment", "inspection_images", "maintenance_records",
        "production_events", "quality_inspections", "sensor_readings",
        "sft_pairs", "shard_plan", "text_corpus", "timeseries_windows",
        "staged_documents", "staged_inspection_images", "staged_maintenance_records",
        "staged_production_events", "staged_quality_inspections", "staged_sensor_readings",
        "standardized_documents", "standardized_inspection_images",
        "standardized_maintenance_records", "standardized_production_events",
        "standardized_quality_inspections", "standardized_sensor_readings",
    ]
)  # fmt: skip


def _defs(factory: Path, tmp_path: Path) -> dg.Definitions:
    return build_definitions(factory / "sources.yaml", tmp_path / "home")


def test_asset_keys_snapshot(factory: Path, tmp_path: Path) -> None:
    defs = _defs(factory, tmp_path)
    keys = sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())
    assert keys == EXPECTED_KEYS


def test_groups_follow_the_flow(factory: Path, tmp_path: Path) -> None:
    graph = _defs(factory, tmp_path).resolve_asset_graph()
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups["staged_sensor_readings"] == "ingest"
    assert groups["equipment"] == "standardize"
    assert groups["sensor_readings"] == "validate"
    assert groups["text_corpus"] == "corpora"
    assert groups["shard_plan"] == "partition"


def test_ingest_partitions_are_sources(factory: Path, tmp_path: Path) -> None:
    graph = _defs(factory, tmp_path).resolve_asset_graph()
    parts = graph.get(dg.AssetKey("staged_sensor_readings")).partitions_def
    assert parts.get_partition_keys() == [
        "modern_historian", "traditional_historian", "wide_historian",
    ]  # fmt: skip


def test_checks_jobs_schedules_sensors(factory: Path, tmp_path: Path) -> None:
    defs = _defs(factory, tmp_path)
    graph = defs.resolve_asset_graph()
    checks = {k.name for k in graph.asset_check_keys if k.asset_key == dg.AssetKey("sensor_readings")}
    assert checks == {"sensor_readings_suite", "conservation"}
    assert defs.resolve_job_def("build_corpora") is not None
    assert defs.resolve_job_def("ingest_sensor_readings") is not None
    schedule = defs.resolve_schedule_def("nightly_ingest_sensor_readings")
    assert schedule.job_name == "ingest_sensor_readings"


def test_whole_code_location_resolves(factory: Path, tmp_path: Path) -> None:
    """What the webserver does on load: every job, schedule and sensor target must resolve."""
    defs = _defs(factory, tmp_path)
    repo = defs.get_repository_def()
    assert {s.name for s in repo.schedule_defs} >= {"nightly_ingest_sensor_readings"}
    for job in repo.get_all_jobs():
        assert job.name
    assert defs.resolve_sensor_def("source_files_sensor") is not None


def test_code_location_import_keeps_gx_lazy(factory: Path, tmp_path: Path) -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import pipelines.definitions; "
        "print(round(time.perf_counter() - t, 2), 'great_expectations' in sys.modules)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CORPUSMILL_HOME": str(tmp_path / "home"),
        "CORPUSMILL_SOURCES": str(factory / "sources.yaml"),
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=REPO, check=True)  # fmt: skip
    seconds, gx_loaded = out.stdout.split()
    assert gx_loaded == "False", "importing the code location must not import great_expectations"
    assert not (tmp_path / ".great_expectations").exists()


def test_dagster_validates_the_workspace(factory: Path, tmp_path: Path) -> None:
    """`dagster definitions validate` on workspace.yaml: what `make dev` loads."""
    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CORPUSMILL_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "CORPUSMILL_SOURCES": str(factory / "sources.yaml"),
    }
    dagster = Path(sys.executable).with_name("dagster")
    out = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
                         capture_output=True, text=True, env=env, cwd=REPO)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Validation successful for code location corpusmill" in out.stdout + out.stderr
