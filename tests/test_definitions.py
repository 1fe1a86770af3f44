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
        "sft_pairs", "shard_plan", "text_corpus", "timeseries_windows", "process_quality",
        "image_corpus",
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


INGEST_JOBS = {
    f"ingest_{t}": f"staged_{t}"
    for t in ("documents", "inspection_images", "maintenance_records", "production_events",
              "quality_inspections", "sensor_readings")
}  # fmt: skip


def test_checks_jobs_schedules_sensors(factory: Path, tmp_path: Path) -> None:
    defs = _defs(factory, tmp_path)
    graph = defs.resolve_asset_graph()
    checks = {k.name for k in graph.asset_check_keys if k.asset_key == dg.AssetKey("sensor_readings")}
    assert checks == {"sensor_readings_suite", "conservation"}
    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs()} >= {*INGEST_JOBS, "build_corpora"}
    assert {s.name: s.job_name for s in repo.schedule_defs} == {
        f"nightly_{job}": job for job in INGEST_JOBS
    }
    assert {s.name for s in repo.sensor_defs} == {
        "source_files_sensor", "corpusmill_automation", "corpus_version_sensor",
    }  # fmt: skip


def test_shard_plan_is_partitioned_by_training_job(factory: Path, tmp_path: Path) -> None:
    """One partition per job of the packaged training_jobs file, each depending on the corpora."""
    graph = _defs(factory, tmp_path).resolve_asset_graph()
    node = graph.get(dg.AssetKey("shard_plan"))
    assert node.partitions_def.get_partition_keys() == [
        "industry-llm", "sft-finetune", "maintenance-forecaster",
    ]  # fmt: skip
    assert {k.to_user_string() for k in node.parent_keys} == {
        "text_corpus", "sft_pairs", "timeseries_windows",
    }  # fmt: skip


def test_the_jobs_file_names_the_partitions(factory: Path, tmp_path: Path, monkeypatch) -> None:
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        "training_jobs:\n"
        "  - {name: only-text, corpus: text_corpus, model_class: decoder-1b, seq_len: 2048,\n"
        "     global_batch: 64, objective: fastest}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CORPUSMILL_TRAINING_JOBS", str(jobs))
    defs = _defs(factory, tmp_path)
    node = defs.resolve_asset_graph().get(dg.AssetKey("shard_plan"))
    assert node.partitions_def.get_partition_keys() == ["only-text"]
    assert {k.to_user_string() for k in node.parent_keys} == {"text_corpus"}
    assert defs.resolve_sensor_def("corpus_version_sensor").name == "corpus_version_sensor"


def test_jobs_select_exactly_their_assets(factory: Path, tmp_path: Path) -> None:
    """Each ingest job runs its one staged asset; build_corpora runs everything else."""
    defs = _defs(factory, tmp_path)
    graph = defs.resolve_asset_graph()
    every = {k.to_user_string() for k in graph.get_all_asset_keys()}

    def selected(job: str) -> set[str]:
        keys = defs.resolve_job_def(job).asset_layer.selected_asset_keys
        return {k.to_user_string() for k in keys}

    for job, asset in INGEST_JOBS.items():
        assert selected(job) == {asset}
    assert selected("build_corpora") == every - set(INGEST_JOBS.values())


def test_source_sensor_targets_the_ingest_assets(factory: Path, tmp_path: Path) -> None:
    defs = _defs(factory, tmp_path)
    sensor = defs.resolve_sensor_def("source_files_sensor")
    graph = defs.resolve_asset_graph()
    targets = sensor.asset_selection.resolve(graph)
    assert {k.to_user_string() for k in targets} == set(INGEST_JOBS.values())


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def _load_code_location(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Import the code location and load its Definitions as Dagster does, in a fresh process."""
    code = (
        "import sys; import pipelines.definitions as d; "
        "print('gx_on_import', 'great_expectations' in sys.modules); "
        "defs = d.defs.load_fn(); "
        "print('assets', len(list(defs.resolve_asset_graph().get_all_asset_keys())))"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env}, cwd=REPO)  # fmt: skip


def test_loading_the_code_location_writes_nothing_and_keeps_gx_lazy(
    factory: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    before, factory_before = _tree(tmp_path), _tree(factory)
    out = _load_code_location(
        {"HOME": str(tmp_path), "CORPUSMILL_HOME": str(home),
         "CORPUSMILL_SOURCES": str(factory / "sources.yaml")}
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "gx_on_import False" in out.stdout, "importing must not import great_expectations"
    assert f"assets {len(EXPECTED_KEYS)}" in out.stdout
    assert _tree(tmp_path) == before, "loading the code location wrote into the home"
    assert _tree(factory) == factory_before


def test_a_home_never_run_is_refused_with_the_fix(tmp_path: Path) -> None:
    out = _load_code_location({"HOME": str(tmp_path), "CORPUSMILL_HOME": str(tmp_path / "h")})
    assert out.returncode != 0
    assert "has no sources file to serve: run `corpusmill dev`" in out.stderr
    assert not (tmp_path / "h").exists(), "no sample factory is generated on load"


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
