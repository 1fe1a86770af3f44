"""A busy source split by day or file group: each part ingests on its own, replaces only its own
rows, and parts written at the same time (two processes, two Dagster runs) keep every row once.

The data is a small historian written here: per day, files of readings in which every tenth row
names equipment the registry lacks (quarantined), so the ground truth per file is known exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.partitions import source_partitions
from assets.resources import CorpusmillResource
from corpusmill import config, lake
from corpusmill.config import ConfigError
from corpusmill.ingest import (
    ALL,
    IngestError,
    file_part,
    ingest_source,
    part_conservation,
    source_parts,
)
from corpusmill.layout import Lake
from tests.test_automation import tick

REPO = Path(__file__).resolve().parents[1]
_STEERING = ("DAGSTER_HOME", "CORPUSMILL_HOME", "CORPUSMILL_SOURCES", "CORPUSMILL_EXECUTOR")

DAYS = ("2024-01-01", "2024-01-02", "2024-01-03")

HEAD = """\
version: 1
data_roots: [data]
sites:
  plant: {timezone: UTC}
equipment:
  - {id: plant/machining/line1/cnc-01, name: CNC 1, aliases: [CNC01]}
sources:
"""

SOURCE = """\
  - name: {name}
    site: plant
    kind: sensor
    path: {path}
    format: csv
    fields: {{ts_utc: time, equipment_id: machine, signal: tag, value: value}}
"""

#: Dates as YYYY-MM-DD or YYYYMMDD in the file names.
DAY_SPLIT = "    partition_by: {day: '(\\d{4}-?\\d{2}-?\\d{2})'}\n"


def _write_file(path: Path, day: str, rows: int, salt: int = 0) -> tuple[int, int]:
    """A day's readings; returns (rows kept, rows quarantined) as ingest must find them."""
    lines = ["time,machine,tag,value"]
    bad = 0
    for i in range(rows):
        machine = "ZZZ" if i % 10 == 0 else "CNC01"
        bad += machine == "ZZZ"
        lines.append(f"{day}T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d},{machine},temp,"
                     f"{i * 0.5 + salt}")  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rows - bad, bad


def _historian(tmp_path: Path, *, rows: int = 40, split: str = DAY_SPLIT) -> tuple[Path, dict]:
    """Two files a day for three days under data/hist; a second, unsplit source in the same
    table. Returns the sources file and the truth {file (as _file records it): (kept, quar.)}."""
    truth = {}
    for d_i, day in enumerate(DAYS):
        for k in range(2):
            rel = f"data/hist/line_{day}_{k}.csv"
            truth[rel] = _write_file(tmp_path / rel, day, rows + 10 * d_i + k)
    truth_other = {"data/other/o.csv": _write_file(tmp_path / "data/other/o.csv", DAYS[0], 20)}
    yml = tmp_path / "sources.yaml"
    yml.write_text(HEAD + SOURCE.format(name="hist", path="data/hist/*.csv") + split
                   + SOURCE.format(name="other", path="data/other/*.csv"),
                   encoding="utf-8")  # fmt: skip
    return yml, {"hist": truth, "other": truth_other}


def _rows_by_file(root: Path, source: str = "hist") -> dict[str, tuple[int, int]]:
    at = Lake(root)
    kept = lake.read(at.staged(source)).group_by("_file").len()
    quar = lake.read(at.quarantine("ingest", source)).group_by("_file").len()
    k = dict(kept.iter_rows())
    q = dict(quar.iter_rows())
    return {f: (k.get(f, 0), q.get(f, 0)) for f in sorted(set(k) | set(q))}


def _day_truth(truth: dict, *days: str) -> dict[str, tuple[int, int]]:
    return {f: v for f, v in truth["hist"].items() if any(d in f for d in days)}


# --- the declaration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decl", "problem"),
    [
        ("{day: '(\\d{4})-(\\d{2})'}", "has 2 capture groups; it needs exactly one"),
        ("{day: '\\d{4}-\\d{2}-\\d{2}'}", "has 0 capture groups"),
        ("{day: '(\\d{4}'}", "is not a regular expression"),
        ("{file_groups: 1}", "greater than or equal to 2"),
        ("{day: '(\\d+)', file_groups: 4}", "give exactly one of 'day'"),
        ("{}", "give exactly one of 'day'"),
        ("{hours: 3}", "hours"),
    ],
)
def test_partition_by_is_checked_when_the_sources_file_loads(
    tmp_path: Path, decl: str, problem: str
) -> None:
    yml, _ = _historian(tmp_path, split=f"    partition_by: {decl}\n")
    with pytest.raises(ConfigError) as err:
        config.load(yml)
    msg = str(err.value)
    assert "source 'hist'" in msg and "partition_by" in msg and problem in msg, msg


def test_a_file_belongs_to_one_day_or_one_group(tmp_path: Path) -> None:
    yml, truth = _historian(tmp_path)
    cfg = config.load(yml)
    hist = cfg.source("hist")
    assert source_parts(cfg, hist) == list(DAYS)
    assert source_parts(cfg, cfg.source("other")) == []
    assert file_part(cfg, cfg.source("other"), str(tmp_path / "data/other/o.csv")) == ALL
    for rel in truth["hist"]:
        assert file_part(cfg, hist, str(tmp_path / rel)) == rel.split("_")[1]

    # YYYYMMDD is a date too; a captured text that is no date is refused, naming the file
    compact = tmp_path / "data/hist/line_20240105_0.csv"
    _write_file(compact, "2024-01-05", 5)
    assert file_part(cfg, hist, str(compact)) == "2024-01-05"
    bogus = tmp_path / "data/hist/line_2024-13-45_0.csv"
    _write_file(bogus, "2024-01-05", 5)
    with pytest.raises(IngestError, match=r"line_2024-13-45_0.csv: partition_by.day captured "
                                          r"'2024-13-45', which is not a date"):  # fmt: skip
        file_part(cfg, hist, str(bogus))
    bogus.unlink()
    undated = tmp_path / "data/hist/line_latest.csv"
    _write_file(undated, "2024-01-05", 6)
    with pytest.raises(IngestError, match=r"data/hist/line_latest.csv: the path carries no date"):
        ingest_source(cfg, hist, tmp_path / "lake", run_id="r", part="2024-01-01")
    # the whole source still takes it: nothing is left behind unread
    res = ingest_source(cfg, hist, tmp_path / "lake", run_id="r", part=ALL)
    assert "data/hist/line_latest.csv" in _rows_by_file(tmp_path / "lake")
    assert res.summary()["files"] == len(truth["hist"]) + 2


def test_file_groups_spread_the_files_and_keep_each_in_its_group(tmp_path: Path) -> None:
    yml, truth = _historian(tmp_path, split="    partition_by: {file_groups: 3}\n")
    cfg = config.load(yml)
    hist = cfg.source("hist")
    assert source_parts(cfg, hist) == ["g0", "g1", "g2"]
    before = {rel: file_part(cfg, hist, str(tmp_path / rel)) for rel in truth["hist"]}
    assert set(before.values()) <= {"g0", "g1", "g2"}
    for day in ("2024-02-01", "2024-02-02", "2024-02-03"):
        _write_file(tmp_path / f"data/hist/line_{day}_0.csv", day, 5)
    # new files join groups; no existing file moves
    assert {rel: file_part(cfg, hist, str(tmp_path / rel)) for rel in truth["hist"]} == before
    root = tmp_path / "lake"
    for g in source_parts(cfg, hist):
        ingest_source(cfg, hist, root, run_id=f"r-{g}", part=g)
    got = _rows_by_file(root)
    assert {f: got[f] for f in truth["hist"]} == truth["hist"]
    assert len(got) == len(truth["hist"]) + 3  # every file in exactly one group, read once


# --- one part replaces only its own rows -----------------------------------------------------


def test_a_part_replaces_only_its_rows_and_ten_runs_change_nothing(tmp_path: Path) -> None:
    yml, truth = _historian(tmp_path)
    cfg = config.load(yml)
    hist = cfg.source("hist")
    root = tmp_path / "lake"
    staged = Lake(root).staged("hist")

    ingest_source(cfg, hist, root, run_id="r0", part=DAYS[0])
    assert _rows_by_file(root) == _day_truth(truth, DAYS[0])
    first = lake.read(staged).drop("_run_id").sort("_file", "_row")
    version = lake.open_table(staged).version()
    for i in range(10):  # unchanged files: skipped, no commit
        ingest_source(cfg, hist, root, run_id=f"again-{i}", part=DAYS[0])
    assert lake.open_table(staged).version() == version
    for i in range(10):  # forced: re-read and replaced, the same rows
        ingest_source(cfg, hist, root, run_id=f"forced-{i}", part=DAYS[0], force=True)
    assert lake.read(staged).drop("_run_id").sort("_file", "_row").equals(first)
    assert part_conservation(cfg, hist, root, DAYS[0]) == {
        "units_in": sum(sum(v) for v in _day_truth(truth, DAYS[0]).values()),
        "rows_kept": sum(k for k, _ in _day_truth(truth, DAYS[0]).values()),
        "rows_quarantined": sum(q for _, q in _day_truth(truth, DAYS[0]).values()),
    }

    ingest_source(cfg, hist, root, run_id="r1", part=DAYS[1])
    ingest_source(cfg, hist, root, run_id="r2", part=DAYS[2])
    assert _rows_by_file(root) == truth["hist"]
    # the whole source afterwards finds every file recorded: nothing to do
    res = ingest_source(cfg, hist, root, run_id="r-all", part=ALL)
    assert res.summary()["files_by_status"] == {"unchanged": len(truth["hist"])}

    # a changed file of day 2 and a removed file of day 3: day 2's run sees only its change
    changed = f"data/hist/line_{DAYS[1]}_0.csv"
    truth["hist"][changed] = _write_file(tmp_path / changed, DAYS[1], 7, salt=1)
    removed = f"data/hist/line_{DAYS[2]}_1.csv"
    (tmp_path / removed).unlink()
    day1_rows = lake.read(staged).filter(pl.col("_file").str.contains(DAYS[0]))
    res = ingest_source(cfg, hist, root, run_id="r3", part=DAYS[1])
    assert res.summary()["files_by_status"] == {"ingested": 1, "unchanged": 1}
    assert res.removed == []
    after = _rows_by_file(root)
    assert after[changed] == truth["hist"][changed] and removed in after  # day 3 not touched
    assert lake.read(staged).filter(pl.col("_file").str.contains(DAYS[0])).equals(day1_rows)
    res = ingest_source(cfg, hist, root, run_id="r4", part=DAYS[2])
    assert [Path(f).name for f in res.removed] == [Path(removed).name]
    del truth["hist"][removed]
    assert _rows_by_file(root) == truth["hist"]
    ledger = lake.read(Lake(root).ledger("hist"))
    assert sorted(ledger["_file"]) == sorted(str(tmp_path / f) for f in truth["hist"])


def test_a_commit_lost_to_another_writer_is_planned_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltalake.exceptions import CommitFailedError

    yml, truth = _historian(tmp_path)
    cfg = config.load(yml)
    hist = cfg.source("hist")
    root = tmp_path / "lake"
    real = lake.replace_rows
    lost: list[str] = []

    def racing(path, data, **kw):
        if Path(path).parent.name == "_ledger" and len(lost) < 2:
            lost.append(str(path))  # the ledger commit loses, twice: rows written, ledger not
            raise CommitFailedError("Commit failed: a concurrent transactions added new data")
        return real(path, data, **kw)

    monkeypatch.setattr(lake, "replace_rows", racing)
    monkeypatch.setattr("corpusmill.ingest.random.uniform", lambda _a, _b: 0.0)
    said: list[str] = []
    ingest_source(cfg, hist, root, run_id="r", part=DAYS[1], progress=said.append)
    assert len(lost) == 2 and sum("planning again" in m for m in said) == 2
    assert _rows_by_file(root) == _day_truth(truth, DAYS[1])  # rows once, after three writes
    c = part_conservation(cfg, hist, root, DAYS[1])
    assert c["units_in"] == c["rows_kept"] + c["rows_quarantined"]


# --- two writers at the same time ------------------------------------------------------------

_WRITER = """\
import json, sys, time
from pathlib import Path
from corpusmill import config, lake
from corpusmill.ingest import ingest_source

sources, root, part, barrier = sys.argv[1:5]
real = lake.replace_rows
waited = []

def together(path, data, **kw):
    # both writers hold their first staged commit until the other has planned too
    if not waited and "staged" in str(path):
        waited.append(1)
        Path(barrier, part).touch()
        for _ in range(6000):
            if len(list(Path(barrier).iterdir())) >= 2:
                break
            time.sleep(0.01)
    return real(path, data, **kw)

lake.replace_rows = together
cfg = config.load(sources)
said = []
res = ingest_source(cfg, cfg.source("hist"), Path(root), run_id=f"run-{part}", part=part,
                    progress=said.append)
print(json.dumps({"summary": res.summary(), "retries": sum("planning again" in m for m in said)}))
"""


def test_two_processes_ingesting_two_days_keep_every_row_once(tmp_path: Path) -> None:
    yml, truth = _historian(tmp_path, rows=400)
    cfg = config.load(yml)
    root = tmp_path / "lake"
    # the whole source first: its rows of every day share Parquet files, so both day writers
    # must rewrite the same files (the hardest case for concurrent replacement)
    ingest_source(cfg, cfg.source("hist"), root, run_id="first", part=ALL)
    for rel in list(truth["hist"]):
        if DAYS[2] not in rel:
            rows = 300 + int(rel[-5])  # the two files of a day differ (no duplicate content)
            truth["hist"][rel] = _write_file(tmp_path / rel, rel.split("_")[1], rows, salt=2)
    script = tmp_path / "writer.py"
    script.write_text(_WRITER, encoding="utf-8")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in _STEERING}
    procs = [
        subprocess.Popen([sys.executable, str(script), str(yml), str(root), day, str(barrier)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         cwd=REPO)
        for day in DAYS[:2]
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    for res in results:
        assert res["summary"]["files_by_status"] == {"ingested": 2}
    assert _rows_by_file(root) == truth["hist"]  # every row once: both days new, day 3 kept
    kept = sum(k for k, _ in truth["hist"].values())
    assert lake.read(Lake(root).staged("hist")).height == kept
    ledger = lake.read(Lake(root).ledger("hist"))
    assert sorted(ledger["_file"]) == sorted(str(tmp_path / f) for f in truth["hist"])
    for day in DAYS:
        c = part_conservation(cfg, cfg.source("hist"), root, day)
        assert c["units_in"] == c["rows_kept"] + c["rows_quarantined"], (day, c)


# --- Dagster: source × part, two runs at once on the multiprocess executor -------------------


def test_a_split_table_is_partitioned_source_by_part(tmp_path: Path) -> None:
    yml, _ = _historian(tmp_path)
    cfg = config.load(yml)
    parts = source_partitions(cfg)["sensor_readings"]
    assert isinstance(parts, dg.MultiPartitionsDefinition)
    assert sorted(str(k) for k in parts.get_partition_keys()) == sorted(
        f"{p}|{s}" for p in (ALL, *DAYS) for s in ("hist", "other")
    )


def test_the_sensor_and_the_nightly_schedule_ask_for_parts(tmp_path: Path) -> None:
    import datetime as dt

    from pipelines.definitions import build_definitions

    yml, truth = _historian(tmp_path)
    home = tmp_path / "home"
    defs = build_definitions(yml, home)
    sensor = defs.resolve_sensor_def("source_files_sensor")
    resources = {"corpusmill": CorpusmillResource(home=str(home), sources=str(yml))}
    cfg = config.load(yml)
    with dg.DagsterInstance.ephemeral() as instance:
        data = tick(sensor, instance=instance, resources=resources, definitions=defs)
        assert sorted(r.partition_key for r in data.run_requests) == sorted(
            [f"{d}|hist" for d in DAYS] + ["all|other"]
        )
        # day 1 ingested; a file of a day the code location has not seen asks for the whole source
        from corpusmill.home import activate

        h = activate(home)
        ingest_source(cfg, cfg.source("hist"), h.lake, run_id="r", part=DAYS[0])
        ingest_source(cfg, cfg.source("other"), h.lake, run_id="r", part=ALL)
        _write_file(tmp_path / "data/hist/line_2024-01-09_0.csv", "2024-01-09", 5)
        again = tick(
            sensor, instance=instance, resources=resources, definitions=defs, cursor=data.cursor
        )
        # (days 2 and 3 are pending too: the whole source covers them)
        assert sorted(r.partition_key for r in again.run_requests) == ["all|hist"]
        schedule = defs.resolve_schedule_def("nightly_ingest_sensor_readings")

        def nightly() -> list[str]:
            when = dt.datetime(2026, 3, 8, 2, tzinfo=dt.UTC)
            tick = schedule.evaluate_tick(
                dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                          repository_def=defs.get_repository_def())
            )  # fmt: skip
            return [r.partition_key for r in tick.run_requests]

        (tmp_path / "data/hist/line_2024-01-09_0.csv").unlink()
        assert nightly() == [f"{d}|hist" for d in DAYS] + ["all|other"]  # each day its own run
        _write_file(tmp_path / "data/hist/line_2024-01-09_0.csv", "2024-01-09", 5)
        assert nightly() == ["all|hist", "all|other"]  # a day not loaded yet: the whole source
    assert len(truth["hist"]) == 6


@pytest.mark.slow
def test_two_runs_of_two_days_at_once_on_the_multiprocess_executor(tmp_path: Path) -> None:
    from corpusmill.home import activate

    yml, truth = _historian(tmp_path, rows=300)
    home = activate(tmp_path / "home")
    dg.DagsterInstance.from_config(str(home.dagster)).get_runs()  # storage created once, up front
    env = {k: v for k, v in os.environ.items() if k not in _STEERING}
    env.update(CORPUSMILL_HOME=str(home.root), CORPUSMILL_SOURCES=str(yml),
               DAGSTER_HOME=str(home.dagster), CORPUSMILL_EXECUTOR="multiprocess")  # fmt: skip
    dagster = Path(sys.executable).parent / "dagster"
    procs = [
        subprocess.Popen([str(dagster), "asset", "materialize", "-m", "pipelines.definitions",
                          "--select", "staged_sensor_readings", "--partition", f"{day}|hist"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                         cwd=REPO)
        for day in DAYS[:2]
    ]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]
    assert _rows_by_file(home.lake) == _day_truth(truth, *DAYS[:2])
    assert not lake.exists(Lake(home.lake).staged("other"))

    instance = dg.DagsterInstance.from_config(str(home.dagster))
    runs = instance.get_runs()
    assert sorted(r.tags["dagster/partition"] for r in runs) == [f"{d}|hist" for d in DAYS[:2]]
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    for run in runs:
        logs = instance.all_logs(run.run_id)
        engine = [e.message for e in logs if e.dagster_event is not None
                  and e.dagster_event.event_type_value == "ENGINE_EVENT"]  # fmt: skip
        assert any("multiprocess executor" in m for m in engine), engine
        (mat,) = [e for e in logs if e.dagster_event is not None
                  and e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"]  # fmt: skip
        day = run.tags["dagster/partition"].split("|")[0]
        meta = mat.dagster_event.event_specific_data.materialization.metadata
        assert meta["rows_kept"].value == sum(k for k, _ in _day_truth(truth, day).values())
        checks = [e for e in logs if e.dagster_event is not None
                  and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]  # fmt: skip
        assert [c.dagster_event.event_specific_data.passed for c in checks] == [True]
