"""Every corpus is optional: a plant with only sensors, only documents or only images runs clean."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from corpusmill import sandbox

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("optional")]


def _only(factory: Path, kinds: set[str], name: str) -> Path:
    """The sample factory's sources file cut down to the sources of ``kinds``."""
    full = yaml.safe_load((factory / "sources.yaml").read_text(encoding="utf-8"))
    full["sources"] = [s for s in full["sources"] if s["kind"] in kinds]
    out = factory / f"{name}.yaml"
    out.write_text(yaml.safe_dump(full, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def _materializations(home) -> dict[str, dict]:
    instance = dg.DagsterInstance.get()
    out = {}
    for key in instance.get_asset_keys():
        event = instance.get_latest_materialization_event(key)
        meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
        out[key.to_user_string()] = {k: getattr(v, "value", v) for k, v in meta.items()}
    return out


@pytest.mark.parametrize(
    ("kinds", "built", "skipped"),
    [
        # process_quality is built too: every batch lands in process_quality_excluded (no outcome)
        ({"sensor"}, {"timeseries_windows", "process_quality"}, {}),
        ({"document"}, {"text_corpus"}, {}),
        ({"image"}, {"image_corpus"}, {}),
    ],
    ids=["sensor-only", "documents-only", "images-only"],
)
def test_a_plant_with_one_kind_of_data_completes(factory, tmp_path, kinds, built, skipped) -> None:
    from corpusmill.corpora import CORPORA
    from corpusmill.home import activate
    from pipelines.runner import run_pipeline

    home = activate(tmp_path / "home")
    report = run_pipeline(_only(factory, kinds, "-".join(sorted(kinds))), home)
    assert report.run_ids
    versions = set(sandbox.query(home, "SELECT DISTINCT corpus FROM corpus_versions")
                   .to_series().to_list())  # fmt: skip
    assert versions == built
    mats = _materializations(home)
    for name in set(CORPORA) - built:
        assert name not in mats, f"{name} has no inputs in this plant and is not even defined"
    if built:
        plans = _plans()
        # the packaged training jobs train on text_corpus, sft_pairs and timeseries_windows
        jobs = {"industry-llm": "text_corpus", "sft-finetune": "sft_pairs",
                "maintenance-forecaster": "timeseries_windows"}  # fmt: skip
        assert set(plans) == set(jobs)
        for job, corpus in jobs.items():
            if corpus in built:
                assert "skipped" not in plans[job] and plans[job]["dagster/row_count"] > 0, job
            else:
                why = f"skipped: {corpus} is not built (its inputs have no rows)"
                assert plans[job]["skipped"] == why
                assert f"shard_plan[{job}]: {why}" in report.skipped
    else:
        assert "shard_plan" not in mats


def _plans() -> dict[str, dict]:
    """The latest shard_plan materialization's metadata per partition (training job)."""
    instance = dg.DagsterInstance.get()
    key = dg.AssetKey("shard_plan")
    out = {}
    for job in instance.get_materialized_partitions(key):
        rec = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[job]), limit=1
        ).records[0]
        meta = rec.asset_materialization.metadata
        out[job] = {k: getattr(v, "value", v) for k, v in meta.items()}
    return out


def test_a_corpus_whose_inputs_are_all_quarantined_is_skipped_with_the_reason(factory, tmp_path):
    """Sources exist but deliver no valid rows: the corpus says why and nothing downstream fails."""
    from corpusmill.home import activate
    from pipelines.runner import run_pipeline

    full = yaml.safe_load((factory / "sources.yaml").read_text(encoding="utf-8"))
    docs = [s for s in full["sources"] if s["kind"] == "document"]
    for s in docs:
        s["path"] = s["path"].rsplit("/", 1)[0] + "/nothing-matches-*.none"
        s["allow_empty"] = True  # an export not delivered yet: a warning, not an error
    full["sources"] = docs
    path = factory / "no-documents.yaml"
    path.write_text(yaml.safe_dump(full, allow_unicode=True, sort_keys=False), encoding="utf-8")
    home = activate(tmp_path / "home")
    with pytest.warns(UserWarning, match="matches no file"):
        report = run_pipeline(path, home)
    assert "text_corpus: skipped: no documents, no maintenance_records" in report.skipped
    mats = _materializations(home)
    assert mats["text_corpus"]["skipped"] == "skipped: no documents, no maintenance_records"
    assert _plans()["industry-llm"]["skipped"].startswith("skipped: text_corpus is not built")
