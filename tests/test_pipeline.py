"""The whole graph, materialized in-process on a generated factory, against its ground truth."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from corpusmill import catalog, lake, sandbox
from corpusmill.layout import Lake

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipeline")]


def q(home, sql: str):
    return sandbox.query(home, sql)


def test_every_source_matches_ground_truth(built, ground_truth) -> None:
    home, _ = built
    for name, truth in ground_truth["sources"].items():
        kept = q(home, f"SELECT count(*) FROM {truth['table']} WHERE _source = '{name}'").item()
        got = dict(
            q(home, f"SELECT \"check\", count(*) FROM quarantine WHERE _source = '{name}' "
                    "GROUP BY ALL").iter_rows()  # fmt: skip
        )
        assert kept == truth["kept"], f"{name}: kept {kept}, ground truth {truth['kept']}"
        assert got == truth["quarantined"], f"{name}: quarantined {got}"


def test_rows_in_equal_rows_kept_plus_quarantined_per_source(built, ground_truth) -> None:
    home, _ = built
    for name, truth in ground_truth["sources"].items():
        kept = q(home, f"SELECT count(*) FROM {truth['table']} WHERE _source = '{name}'").item()
        quarantined = q(home, f"SELECT count(*) FROM quarantine WHERE _source = '{name}'").item()
        assert truth["units_in"] == kept + quarantined, name


def test_quarantine_rows_name_file_row_and_reason(built) -> None:
    home, _ = built
    rows = q(home, "SELECT * FROM quarantine WHERE \"check\" = 'non_numeric' "
                   "AND _source = 'traditional_historian'").to_dicts()  # fmt: skip
    assert rows
    for r in rows:
        assert r["_file"].endswith(".csv") and r["_row"] >= 1
        assert r["raw_value"] in {"Bad", "Scan Timeout", "Inp OutRange", "Comm Fail"}
        assert r["raw_value"] in r["reason"] and r["stage"] == "ingest"
    dup = q(home, "SELECT reason FROM quarantine WHERE \"check\" = 'duplicate' LIMIT 1").item()
    assert dup.startswith("exact duplicate of ")


def test_canonical_tables_are_si_utc_and_one_equipment_id(built) -> None:
    home, _ = built
    units = set(q(home, "SELECT DISTINCT unit FROM sensor_readings").to_series().to_list())
    assert {"K", "Pa"} <= units
    assert not units & {"°F", "degF", "°C", "psi", "bar", "rpm", "mm", "kW"}, units
    # "1号机床", "CNC-01" and "cnc_1" are one machine
    aliases = q(home, "SELECT aliases FROM equipment "
                      "WHERE equipment_id = 'suzhou/machining/line1/cnc-01'").item().to_list()  # fmt: skip
    assert {"1号机床", "CNC-01", "cnc_1"} <= set(aliases)
    provenance = q(home, "SELECT count(*) FROM sensor_readings WHERE _file IS NULL OR _row IS NULL "
                         "OR _file_sha256 IS NULL OR _run_id IS NULL").item()  # fmt: skip
    assert provenance == 0


def test_corpora_are_versioned_with_manifests(built) -> None:
    home, _ = built
    versions = q(home, "SELECT corpus, version, rows, content_hash FROM corpus_versions").to_dicts()
    corpora = {v["corpus"] for v in versions}
    assert {"text_corpus", "timeseries_windows", "sft_pairs"} <= corpora
    for v in versions:
        assert v["rows"] > 0 and len(v["content_hash"]) == 64
        assert q(home, f"SELECT count(*) FROM {v['corpus']}_v{v['version']}").item() == v["rows"]
    langs = set(q(home, "SELECT DISTINCT language FROM text_corpus").to_series().to_list())
    assert {"zh", "en"} <= langs
    leaked = q(home, "SELECT count(*) FROM text_corpus WHERE regexp_matches(text, "
                     "'1[3-9][0-9]{9}|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[a-z]{2,}')").item()  # fmt: skip
    assert leaked == 0, "phone numbers or emails survived redaction"
    splits = q(home, "SELECT DISTINCT split FROM timeseries_windows").to_series().to_list()
    assert set(splits) == {"train", "val", "test"}


def test_shard_plan_covers_the_corpus(built) -> None:
    """Every training job's latest plan is in the plan tables (its job_name), covering its corpus."""
    home, _ = built
    jobs = {"industry-llm": "text_corpus", "sft-finetune": "sft_pairs",
            "maintenance-forecaster": "timeseries_windows"}  # fmt: skip
    plan = q(home, "SELECT job_name, corpus, corpus_version, plan_id, pool, samples FROM shard_plan")
    assert set(plan["job_name"]) == set(jobs)
    history = q(home, "SELECT job_name, plan_id, corpus, corpus_version, catalog_hash, created_utc "
                      "FROM shard_plans")  # fmt: skip
    assert set(history["job_name"]) == set(jobs) and history["catalog_hash"].n_unique() == 1
    for job, corpus in jobs.items():
        mine = plan.filter(plan["job_name"] == job)
        assert set(mine["corpus"]) == {corpus} and mine["plan_id"].n_unique() == 1
        rows = q(home, f"SELECT rows FROM corpus_versions WHERE corpus = '{corpus}' "
                       "ORDER BY version DESC LIMIT 1").item()  # fmt: skip
        assert mine["samples"].sum() == rows, job
        assert mine["plan_id"][0] in set(history.filter(history["job_name"] == job)["plan_id"])
        pools = q(home, f"SELECT pool, tokens FROM shard_pools WHERE job_name = '{job}' "
                        "AND samples > 0")  # fmt: skip
        assert set(pools["pool"]) == set(mine["pool"])
    files = q(home, "SELECT path FROM shards").to_series().to_list()
    assert files and all(Path(f).exists() for f in files)
    names = q(home, "SELECT DISTINCT job_name FROM shards").to_series().to_list()
    assert set(names) == set(jobs)


def test_checks_were_emitted_with_the_materializations(built) -> None:
    home, report = built
    # this home's own instance: another test on the worker may have pointed DAGSTER_HOME elsewhere
    instance = dg.DagsterInstance.from_config(str(home.dagster))
    key = dg.AssetKey("sensor_readings")
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(key, "sensor_readings_suite"), limit=5
    )
    assert records, "the suite check did not run"
    assert report.run_ids and all(instance.get_run_by_id(r).is_success for r in report.run_ids)
    assert (home.gx).exists() and any(home.gx.rglob("index.html")), "no Data Docs built"


def test_the_sample_factory_passes_every_check(built) -> None:
    """The planted defects are quarantined and reported, and every check passes at its threshold."""
    home, report = built
    assert report.failed_checks == []
    lab = q(home, "SELECT \"check\", \"column\", count(*) FROM quarantine WHERE _source = "
                  "'quality_lab' GROUP BY ALL").rows()  # fmt: skip
    assert lab == [("expect_column_values_to_not_be_null", "value", 2)]


def test_rerun_changes_nothing(built, factory: Path) -> None:
    from pipelines.runner import run_pipeline

    def versions() -> dict[str, int]:
        """Every Delta table in the lake (staged, standardized, canonical, quarantine, ledgers,
        corpora, excluded rows, plans) and its latest version."""
        return {str(log.parent.relative_to(home.lake)): lake.open_table(log.parent).version()
                for log in home.lake.rglob("_delta_log")}  # fmt: skip

    home, _ = built
    before = q(home, "SELECT corpus, version, content_hash FROM corpus_versions ORDER BY ALL")
    tables = versions()
    counts = q(home, "SELECT count(*) FROM sensor_readings").item()
    run_pipeline(factory / "sources.yaml", home)
    after = q(home, "SELECT corpus, version, content_hash FROM corpus_versions ORDER BY ALL")
    assert before.equals(after), "a rerun on the same inputs must not add corpus versions"
    assert len(tables) > 40
    changed = {t: (v, versions()[t]) for t, v in tables.items() if versions()[t] != v}
    assert not changed, f"a no-op rerun wrote new Delta versions: {changed}"
    assert q(home, "SELECT count(*) FROM sensor_readings").item() == counts
    assert not (home.root / "tmp").exists(), "the run's scratch folder outlived it"


def test_published_corpora_have_their_declared_schema(built) -> None:
    """The registry's schema is what the builders wrote and what the suites validate."""
    from corpusmill.corpora import CORPORA
    from quality.suites import default_schema

    home, _ = built
    for name, spec in CORPORA.items():
        stored = lake.read(Lake(home.lake).table(name)).schema
        assert stored == spec.schema, name
        assert default_schema(name) == spec.schema, name
    label = q(home, "SELECT typeof(label) FROM timeseries_windows LIMIT 1").item()
    assert label == "TINYINT"


def test_catalog_views_are_the_layouts(built) -> None:
    """Every view the layout declares is in the catalog; a stray folder in the lake is not."""
    from corpusmill.corpora import CORPORA

    home, _ = built
    stray = home.lake / "staged" / "not_a_table"
    stray.mkdir()
    try:
        catalog.refresh(home)
        names = set(q(home, "SELECT table_name FROM information_schema.tables").to_series())
    finally:
        stray.rmdir()
    at = Lake(home.lake)
    assert set(at.views(CORPORA)) <= names
    assert {"quarantine", "ingest_files", "equipment_aliases", "corpus_versions"} <= names
    assert "staged_not_a_table" not in names
    assert {f"{c}_v0" for c in CORPORA} <= names


def test_refreshing_one_view_leaves_the_others_alone(built) -> None:
    """A writer refreshes only the views of what it wrote; corpus_versions keeps other corpora."""
    home, _ = built
    before = q(home, "SELECT corpus, version, content_hash FROM corpus_versions ORDER BY ALL")
    views = dict(q(home, "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").rows())
    rebuilt = catalog.refresh(home, ["sft_pairs"])
    assert rebuilt[0] == "sft_pairs" and "corpus_versions" in rebuilt
    assert {v for v in rebuilt if v.startswith("text_corpus")} == set()
    after_views = dict(q(home, "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").rows())
    assert after_views == views
    after = q(home, "SELECT corpus, version, content_hash FROM corpus_versions ORDER BY ALL")
    assert after.equals(before)


def test_table_assets_explain_themselves_in_the_ui(built) -> None:
    """Canonical tables and corpora carry their column schema, row count and a preview; corpora
    their data card; the shard plan its pool table; every asset a description."""
    from pipelines.definitions import build_definitions

    home, _ = built
    instance = dg.DagsterInstance.get()

    def meta(name: str) -> dict:
        ev = instance.get_latest_materialization_event(dg.AssetKey(name))
        assert ev is not None, name
        return ev.asset_materialization.metadata

    qi = meta("quality_inspections")
    cols = [c.name for c in qi["dagster/column_schema"].schema.columns]
    assert cols[:3] == ["inspection_id", "ts_utc", "equipment_id"] and "_source" in cols
    assert qi["dagster/row_count"].value == 106
    assert qi["preview"].md_str.count("\n") == 6  # header, rule, five rows
    corpus = meta("text_corpus")
    card = corpus["data_card"].md_str
    assert card.startswith("# Data card: text_corpus") and f"- rows: {corpus['dagster/row_count'].value}" in card
    assert "| maintenance_logs |" in card and "CC0-1.0" in card, "the sources' licences"
    assert "- built from: documents, maintenance_records" in card
    assert "text" in [c.name for c in corpus["dagster/column_schema"].schema.columns]
    plan = meta("shard_plan")
    assert "a100-cn-east" in plan["pools"].md_str and "ascend-cn-north" in plan["pools"].md_str
    assert "█" in plan["load"].md_str and plan["job"].value in (
        "industry-llm", "sft-finetune", "maintenance-forecaster")  # fmt: skip
    assert "pool" in [c.name for c in plan["dagster/column_schema"].schema.columns]
    graph = build_definitions(home.sources_file, home).resolve_asset_graph()
    assert all(graph.get(k).description for k in graph.get_all_asset_keys())
