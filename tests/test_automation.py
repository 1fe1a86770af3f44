"""Automation: the sensor and schedules return exactly the runs they should; retries and freshness.

Sensors and schedules are evaluated as the daemon does, through ``evaluate_tick`` on contexts from
``build_sensor_context`` / ``build_schedule_context`` with an ephemeral instance; nothing is run.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pytest

from assets.automation import CORPUS_FRESHNESS, INGEST_RETRY, TABLE_FRESHNESS, is_transient
from assets.resources import CorpusmillResource
from corpusmill.home import activate
from pipelines.definitions import build_definitions

#: The sample factory's sources per ingest asset (the partitions of each).
SOURCES = {
    "staged_documents": ["manuals", "service_tickets", "sops"],
    "staged_inspection_images": ["inspection_images"],
    "staged_maintenance_records": ["maintenance_logs"],
    "staged_production_events": ["mes_batches", "mes_work_orders"],
    "staged_quality_inspections": ["quality_lab"],
    "staged_sensor_readings": ["modern_historian", "traditional_historian", "wide_historian"],
}


@pytest.fixture
def plant(factory: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the sample factory (so files can be added) and a fresh home: (sources, home)."""
    out = tmp_path / "factory"
    shutil.copytree(factory, out)
    return out / "sources.yaml", tmp_path / "home"


def tick(sensor: dg.SensorDefinition, **context: object) -> dg.SensorExecutionData:
    """One evaluation of ``sensor``, in a context opened as the daemon opens one (the
    ``corpusmill`` resource is a context manager: a run's steps hold the home through it)."""
    with dg.build_sensor_context(**context) as ctx:  # type: ignore[arg-type]
        return sensor.evaluate_tick(ctx)


def _requests(data: dg.SensorExecutionData | object) -> list[tuple[str, str, list[str]]]:
    return sorted(
        (r.partition_key, r.tags["corpusmill/trigger"],
         [k.to_user_string() for k in r.asset_selection])
        for r in data.run_requests  # type: ignore[attr-defined]
    )  # fmt: skip


def test_a_new_file_requests_its_source_once(plant: tuple[Path, Path]) -> None:
    sources, home = plant
    defs = build_definitions(sources, home)
    sensor = defs.resolve_sensor_def("source_files_sensor")
    resources = {"corpusmill": CorpusmillResource(home=str(home), sources=str(sources))}
    with dg.DagsterInstance.ephemeral() as instance:
        first = tick(sensor, instance=instance, resources=resources, definitions=defs)
        # Nothing ingested yet: every source is pending, one run per source on its own partition.
        assert _requests(first) == sorted(
            (src, "source_files_sensor", [asset]) for asset, srcs in SOURCES.items() for src in srcs
        )
        assert len({r.run_key for r in first.run_requests}) == 11
        again = tick(
            sensor, instance=instance, resources=resources, definitions=defs, cursor=first.cursor
        )
        assert again.run_requests == [] and again.cursor == first.cursor

        (sources.parent / "docs" / "lathe_errata.md").write_text(
            "# Errata\n\nThe spindle limit is 3000 rpm.\n", encoding="utf-8"
        )
        new = tick(
            sensor, instance=instance, resources=resources, definitions=defs, cursor=again.cursor
        )
        assert _requests(new) == [("manuals", "source_files_sensor", ["staged_documents"])]
        (req,) = new.run_requests
        old = {r.partition_key: r.run_key for r in first.run_requests}
        assert req.run_key.startswith("manuals:") and req.run_key != old["manuals"]
        last = tick(
            sensor, instance=instance, resources=resources, definitions=defs, cursor=new.cursor
        )
        assert last.run_requests == []


def test_nightly_schedule_requests_every_source_of_its_job(plant: tuple[Path, Path]) -> None:
    sources, home = plant
    defs = build_definitions(sources, home)
    schedule = defs.resolve_schedule_def("nightly_ingest_sensor_readings")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "UTC")
    when = dt.datetime(2026, 3, 8, 2, 0, tzinfo=dt.UTC)
    with dg.DagsterInstance.ephemeral() as instance:
        data = schedule.evaluate_tick(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                    repository_def=defs.get_repository_def())
        )
    assert [(r.run_key, r.partition_key) for r in data.run_requests] == [
        ("2026-03-08:modern_historian", "modern_historian"),
        ("2026-03-08:traditional_historian", "traditional_historian"),
        ("2026-03-08:wide_historian", "wide_historian"),
    ]


def test_freshness_and_eager_automation_cover_tables_corpora_and_plans(
    plant: tuple[Path, Path],
) -> None:
    sources, home = plant
    graph = build_definitions(sources, home).resolve_asset_graph()
    by_group: dict[str, dict[str, object]] = {}
    for k in graph.get_all_asset_keys():
        node = graph.get(k)
        by_group.setdefault(node.group_name, {})[k.to_user_string()] = node.freshness_policy
    assert by_group["validate"] == {t: TABLE_FRESHNESS for t in (
        "documents", "inspection_images", "maintenance_records", "production_events",
        "quality_inspections", "sensor_readings")}  # fmt: skip
    from corpusmill.corpora import CORPORA

    assert by_group["corpora"] == {c: CORPUS_FRESHNESS for c in CORPORA}, "every corpus"
    assert TABLE_FRESHNESS.fail_window.to_timedelta() == dt.timedelta(hours=48)
    # A new ingest flows on: everything downstream of ingest is eager, down to the corpora; the
    # shard plans (one partition per job) follow their corpus's new versions through a sensor.
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.group_name not in ("ingest", "partition"):
            assert node.automation_condition is not None, key
            assert "eager" in (node.automation_condition.get_label() or ""), key
    assert graph.get(dg.AssetKey("shard_plan")).automation_condition is None
    defs = build_definitions(sources, home)
    assert defs.resolve_sensor_def("corpus_version_sensor").default_status == (
        dg.DefaultSensorStatus.RUNNING)  # fmt: skip


def test_ingest_retries_transient_errors_only(plant: tuple[Path, Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import assets.ingest as ingest_assets
    from pipelines.definitions import build_assets, build_resources

    assert (INGEST_RETRY.max_retries, INGEST_RETRY.delay, INGEST_RETRY.backoff) == (
        3, 5, dg.Backoff.EXPONENTIAL)  # fmt: skip
    assert is_transient(TimeoutError()) and is_transient(ConnectionResetError())
    assert not is_transient(FileNotFoundError()) and not is_transient(ValueError())
    sources, home = plant
    h = activate(home)
    from corpusmill import config

    assets = build_assets(config.load(sources))
    staged = next(a for a in assets if a.key == dg.AssetKey("staged_documents"))
    assert staged.op.retry_policy == INGEST_RETRY
    real = ingest_assets.ingest_source
    calls: list[str] = []

    def flaky(cfg, src, lake, **kw):  # noqa: ANN001, ANN003, ANN202
        calls.append(src.name)
        if len(calls) == 1:
            raise ConnectionResetError("share dropped the connection")
        return real(cfg, src, lake, **kw)

    monkeypatch.setattr(ingest_assets, "ingest_source", flaky)
    resources = build_resources(sources, h)
    with dg.instance_for_test() as instance:
        res = dg.materialize(assets, selection=[staged.key], partition_key="manuals",
                             instance=instance, resources=resources)  # fmt: skip
        assert res.success and calls == ["manuals", "manuals"]
        kinds = [e.event_type_value for e in res.all_events]
        assert kinds.count("STEP_UP_FOR_RETRY") == 1 and kinds.count("STEP_RESTARTED") == 1

        def broken(cfg, src, lake, **kw):  # noqa: ANN001, ANN003, ANN202
            calls.append(src.name)
            raise ValueError("row 3: no such column 'spindle'")

        monkeypatch.setattr(ingest_assets, "ingest_source", broken)
        calls.clear()
        res = dg.materialize(assets, selection=[staged.key], partition_key="manuals",
                             instance=instance, resources=resources, raise_on_error=False)  # fmt: skip
        kinds = [e.event_type_value for e in res.all_events]
        assert not res.success and calls == ["manuals"]  # a data error fails at once
        assert "STEP_UP_FOR_RETRY" not in kinds and kinds.count("STEP_FAILURE") == 1
