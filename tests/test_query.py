"""The query sandbox: escapes are refused or harmless, the lake and catalog stay byte-identical,
every view still answers, and the CLI prints every DuckDB type."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

import corpusmill
from corpusmill import canonical, catalog, lake, sandbox
from corpusmill.home import Home
from corpusmill.layout import Lake

pytestmark = pytest.mark.xdist_group("query")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A small home: two Delta tables (equipment, sensor_readings) and a fresh catalog."""
    h = Home(tmp_path_factory.mktemp("qhome"))
    at = Lake(h.lake)
    equipment = pl.DataFrame(
        {
            "equipment_id": ["site/a/l1/cnc-01", "site/a/l1/press-01"], "name": ["CNC 1", "Press"],
            "site": ["site", "site"], "area": ["a", "a"], "line": ["l1", "l1"],
            "unit": ["cnc-01", "press-01"], "equipment_type": ["cnc", "press"],
            "aliases": [["1号机床", "CNC-01"], ["PRESS-01"]],
            "sources": [["mes"], ["mes", "qa"]],
        },
        schema=canonical.schema("equipment"),
    )  # fmt: skip
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    n = 6
    readings = pl.DataFrame(
        {
            "ts_utc": [t0.replace(minute=5 * i) for i in range(n)], "batch_id": ["b1"] * n,
            "t_offset_s": [300.0 * i for i in range(n)], "sample_index": list(range(n)),
            "equipment_id": ["site/a/l1/cnc-01"] * n, "signal": ["temperature"] * n,
            "value": [300.0 + i for i in range(n)], "unit": ["K"] * n, "quality": ["good"] * n,
            "_source": ["hist"] * n, "_file": ["f.csv"] * n, "_row": list(range(n)),
            "_file_sha256": ["0" * 64] * n, "_run_id": ["r"] * n,
        },
        schema=canonical.schema("sensor_readings"),
    )  # fmt: skip
    lake.overwrite(at.table("equipment"), equipment)
    lake.overwrite(at.table("sensor_readings"), readings)
    catalog.refresh(h)
    return h


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files outside the home: a Parquet file and a DuckDB database to try to reach."""
    d = tmp_path_factory.mktemp("outside")
    duckdb.sql(f"COPY (SELECT 42 AS secret) TO '{d / 'secret.parquet'}' (FORMAT parquet)")
    con = duckdb.connect(str(d / "other.duckdb"))
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    con.close()
    return {"dir": d, "parquet": d / "secret.parquet", "db": d / "other.duckdb"}


def snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every file under the roots (files or folders)."""
    out = {}
    for root in roots:
        for p in [root] if root.is_file() else sorted(root.rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


REFUSED, DENIED, ERROR, HARMLESS = "refused", "permission denied", "duckdb error", "harmless"

# (id, sql template, expected outcome); {out} is a folder that must never appear
ATTACKS = [
    ("copy-to-tmp", "COPY (SELECT * FROM equipment) TO '{out}/leak.csv'", REFUSED),
    ("copy-to-lake-file", "COPY (SELECT * FROM equipment) TO '{lake_file}' (FORMAT parquet)",
     REFUSED),
    ("copy-to-catalog", "COPY (SELECT 1 AS a) TO '{catalog}'", REFUSED),
    ("copy-from-file", "COPY equipment FROM '/etc/passwd'", REFUSED),
    ("export-database", "EXPORT DATABASE '{out}/export'", REFUSED),
    ("copy-database", "COPY FROM DATABASE catalog TO memory", REFUSED),
    ("attach-existing-rw", "ATTACH '{db}' AS other", REFUSED),
    ("attach-new-in-lake", "ATTACH '{lake}/evil.duckdb' AS evil", REFUSED),
    ("detach", "DETACH catalog", REFUSED),
    ("install", "INSTALL httpfs", REFUSED),
    ("load", "LOAD httpfs", REFUSED),
    ("set-external-access", "SET enable_external_access = true", REFUSED),
    ("set-allowed-directories", "SET allowed_directories = ['/']", REFUSED),
    ("reset", "RESET allowed_directories", REFUSED),
    ("use", "USE memory", REFUSED),
    ("pragma-setting", "PRAGMA enable_profiling", REFUSED),
    ("pragma-assign", "PRAGMA threads = 1", REFUSED),
    ("call", "CALL checkpoint()", REFUSED),
    ("create-temp-table", "CREATE TEMP TABLE t AS SELECT 1 AS a", REFUSED),
    ("create-secret", "CREATE SECRET (TYPE s3, KEY_ID 'k', SECRET 's')", REFUSED),
    ("insert", "INSERT INTO equipment SELECT * FROM equipment", REFUSED),
    ("update", "UPDATE equipment SET name = 'x'", REFUSED),
    ("delete", "DELETE FROM equipment", REFUSED),
    ("drop", "DROP VIEW equipment", REFUSED),
    ("alter", "ALTER VIEW equipment RENAME TO e", REFUSED),
    ("two-selects", "SELECT 1; SELECT 2", REFUSED),
    ("select-then-copy", "SELECT 1; COPY (SELECT 1) TO '{out}/second.csv'", REFUSED),
    ("copy-after-line-comment", "SELECT 1 -- harmless?\n; COPY (SELECT 1) TO '{out}/c.csv'",
     REFUSED),
    ("copy-behind-block-comment", "/* SELECT 1; */ COPY (SELECT 1) TO '{out}/b.csv'", REFUSED),
    ("explain-analyze-copy", "EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}/e.csv'", REFUSED),
    ("explain-options-copy", "EXPLAIN (FORMAT json) COPY (SELECT 1) TO '{out}/f.csv'", REFUSED),
    ("prepare", "PREPARE p AS COPY (SELECT 1) TO '{out}/p.csv'", REFUSED),
    ("transaction", "BEGIN TRANSACTION", REFUSED),
    ("empty", "  -- only a comment", REFUSED),
    ("read-csv", "SELECT * FROM read_csv('/etc/passwd')", DENIED),
    ("read-text", "SELECT * FROM read_text('/etc/hostname')", DENIED),
    ("read-blob", "SELECT * FROM read_blob('/etc/hostname')", DENIED),
    ("file-replacement-scan", "SELECT * FROM '/etc/passwd'", ERROR),
    ("glob", "SELECT * FROM glob('/etc/*')", DENIED),
    ("read-parquet-outside", "SELECT * FROM read_parquet('{parquet}')", DENIED),
    ("read-parquet-dotdot", "SELECT * FROM read_parquet('{lake}/{parquet_rel}')", DENIED),
    ("http", "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')", DENIED),
    ("query-function-copy", "SELECT * FROM query('COPY (SELECT 1) TO ''{out}/q.csv''')", ERROR),
    ("copy-inside-string", "SELECT 'x''; COPY (SELECT 1) TO ''{out}/s.csv''' AS s", HARMLESS),
    ("copy-inside-comment", "SELECT 1 AS a /* ; COPY (SELECT 1) TO '{out}/m.csv' */", HARMLESS),
]


def _sql(template: str, home: Home, outside: dict[str, Path], out: Path) -> str:
    lake_file = lake.files(Lake(home.lake).table("equipment"))[0]
    parquet = outside["parquet"]
    return template.format(
        out=out, lake_file=lake_file, catalog=home.catalog, db=outside["db"], lake=home.lake,
        parquet=parquet, parquet_rel=os.path.relpath(parquet, home.lake),
    )  # fmt: skip


def _outcome(run) -> str:
    try:
        run()
    except sandbox.QueryRefused:
        return REFUSED
    except duckdb.PermissionException:
        return DENIED
    except duckdb.Error:
        return ERROR
    return HARMLESS


@pytest.mark.parametrize(("sql", "expected"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_escape_is_refused_or_harmless(home, outside, tmp_path, monkeypatch, sql, expected):
    out = tmp_path / "out"
    sql = _sql(sql, home, outside, out)
    guarded = [home.lake, home.catalog, outside["dir"]]
    before = snapshot(*guarded)

    def via_python_api():
        with corpusmill.connect(home.root) as con:
            con.sql(sql).fetchall()

    assert _outcome(lambda: sandbox.query(home, sql)) == expected
    assert _outcome(via_python_api) == expected
    # the CLI: refused exits 2, a DuckDB error 1, each with a one-line message
    monkeypatch.setenv("CORPUSMILL_HOME", str(home.root))
    monkeypatch.setenv("DAGSTER_HOME", str(home.dagster))
    from pipelines.cli import main

    res = CliRunner().invoke(main, ["query", sql, "--home", str(home.root), "--format", "csv"])
    assert res.exit_code == {REFUSED: 2, DENIED: 1, ERROR: 1, HARMLESS: 0}[expected], res.output
    if expected != HARMLESS:
        message = res.output.strip()
        assert "\n" not in message and message.startswith(("error: refused", "query failed:"))

    assert snapshot(*guarded) == before
    assert not out.exists()
    assert not (home.lake / "evil.duckdb").exists()


def test_refusal_names_what_and_why(home) -> None:
    cases = {
        "COPY (SELECT 1) TO 'x.csv'": "refused COPY: COPY reads or writes files",
        "ATTACH 'x.duckdb'": "refused ATTACH",
        "SELECT 1; SELECT 2": "refused: 2 statements (SELECT, SELECT)",
        "PRAGMA enable_profiling": "refused PRAGMA enable_profiling",
        "EXPLAIN ANALYZE DELETE FROM equipment": "refused EXPLAIN of DELETE",
    }
    for sql, start in cases.items():
        with pytest.raises(sandbox.QueryRefused) as e:
            sandbox.check(sql)
        assert str(e.value).startswith(start), str(e.value)
        assert "\n" not in str(e.value) and "run one SELECT" in str(e.value)
    assert issubclass(sandbox.QueryRefused, ValueError)


def test_read_only_statements_run(home) -> None:
    with sandbox.connect(home) as con:
        assert con.sql("SELECT count(*) FROM equipment").fetchone() == (2,)
        assert con.sql("FROM equipment SELECT name ORDER BY name").fetchall()[0] == ("CNC 1",)
        assert "equipment_id" in [r[0] for r in con.sql("DESCRIBE equipment").fetchall()]
        assert "sensor_readings" in [r[0] for r in con.sql("SHOW TABLES").fetchall()]
        assert con.sql("SUMMARIZE sensor_readings").fetchall()
        assert con.sql("EXPLAIN SELECT * FROM equipment").fetchall()
        assert con.sql("EXPLAIN (FORMAT json) SELECT * FROM equipment").fetchall()
        assert con.sql("EXPLAIN ANALYZE SELECT count(*) FROM equipment").fetchall()
        assert con.sql("PRAGMA table_info('equipment')").fetchall()[0][1] == "equipment_id"
        assert con.sql("SELECT ? + 1 AS x", [41]).fetchone() == (42,)
        # the views may read their own lake files, and only those
        assert con.sql(f"SELECT count(*) FROM glob('{home.lake}/**/*.parquet')").fetchone()[0] >= 2
        # nested values stay native in polars; the python API hands out no writing relation
        aliases = con.sql("SELECT aliases FROM equipment ORDER BY 1").pl().item(0, 0).to_list()
        assert aliases == ["1号机床", "CNC-01"]
        result = con.sql("SELECT 1 AS a")
        assert not hasattr(result, "to_parquet") and not hasattr(result, "write_csv")
        assert not hasattr(con, "install_extension") and not hasattr(con, "read_csv")


def test_every_view_still_answers(home) -> None:
    # after the escapes above (and again here) every view and table answers
    with corpusmill.connect(home) as con:
        names = [r[0] for r in con.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'catalog'"
        ).fetchall()]  # fmt: skip
        assert {"equipment", "sensor_readings", "quarantine", "corpus_versions"} <= set(names)
        for name in names:
            (n,) = con.sql(f'SELECT count(*) FROM "{name}"').fetchone()
            assert n >= 0
        assert con.sql("SELECT count(*) FROM sensor_readings").fetchone() == (6,)


def test_refresh_still_writes_unsandboxed(home) -> None:
    with sandbox.connect(home) as con:  # an open sandboxed reader does not block the writer
        before = con.sql("SELECT count(*) FROM equipment").fetchone()
        assert "equipment" in catalog.refresh(home)
    assert sandbox.query(home, "SELECT count(*) FROM equipment").row(0) == before


def test_connect_without_a_home_says_how_to_fix(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="pass home="):
        corpusmill.connect(tmp_path / "nowhere")


def test_query_frame_survives_every_type(home) -> None:
    sql = (
        "SELECT ts_utc - lag(ts_utc) OVER (ORDER BY ts_utc) AS gap, [INTERVAL 1 HOUR] AS gaps, "
        "union_value(k := 1) AS u, '101'::BIT AS b, '01:02:03+01'::TIMETZ AS tt "
        "FROM sensor_readings ORDER BY ts_utc LIMIT 2"
    )
    df = sandbox.query(home, sql)
    assert df["gap"].to_list() == [None, "00:05:00"]
    assert df["gaps"][0] == '["01:00:00"]'
    assert df["b"][0] == "101"


TYPES_SQL = (
    "SELECT equipment_id, aliases, {'n': 1, 'tags': aliases} AS s, MAP {'k': 1} AS m, "
    "[1, 2]::INTEGER[2] AS arr, INTERVAL 1 DAY + INTERVAL 2 HOUR AS iv, '\\xAA\\x01'::BLOB AS bl, "
    "1.25::DECIMAL(10, 2) AS dec, TIMESTAMPTZ '2024-01-01 01:02:03+00' AS tz, "
    "170141183460469231731687303715884105727::HUGEINT AS big, uuid() IS NOT NULL AS ok "
    "FROM equipment ORDER BY equipment_id"
)


def _cli(home: Home, monkeypatch, *args: str):
    from pipelines.cli import main

    monkeypatch.setenv("CORPUSMILL_HOME", str(home.root))
    monkeypatch.setenv("DAGSTER_HOME", str(home.dagster))
    return CliRunner().invoke(main, ["query", *args, "--home", str(home.root)])


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_cli_prints_list_and_interval_columns(home, monkeypatch, fmt) -> None:
    gap = "SELECT ts_utc - lag(ts_utc) OVER (ORDER BY ts_utc) AS gap FROM sensor_readings"
    for sql in ("SELECT * FROM equipment", gap, TYPES_SQL):
        res = _cli(home, monkeypatch, sql, "--format", fmt)
        assert res.exit_code == 0, (sql, res.output, res.exception)
    res = _cli(home, monkeypatch, TYPES_SQL, "--format", fmt)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(res.output)))
        assert json.loads(rows[0]["aliases"]) == ["1号机床", "CNC-01"]
        assert json.loads(rows[0]["s"]) == {"n": 1, "tags": ["1号机床", "CNC-01"]}
        assert json.loads(rows[0]["m"]) == {"k": 1} and json.loads(rows[0]["arr"]) == [1, 2]
        assert rows[0]["iv"] == "1 day 02:00:00" and rows[0]["bl"] == "qgE="
        assert rows[0]["dec"] == "1.25" and rows[0]["tz"].startswith("2024-01-01T01:02:03")
        assert rows[0]["big"] == "170141183460469231731687303715884105727"
    elif fmt == "json":
        rows = json.loads(res.output)
        assert rows[0]["aliases"] == ["1号机床", "CNC-01"]
        assert rows[0]["s"] == {"n": 1, "tags": ["1号机床", "CNC-01"]}
        assert rows[0]["m"] == {"k": 1} and rows[0]["iv"] == "1 day 02:00:00"
        assert rows[0]["bl"] == "qgE=" and rows[0]["dec"] == "1.25"
    else:
        narrow_sql = "SELECT aliases, INTERVAL 1 DAY AS iv FROM equipment"
        narrow = _cli(home, monkeypatch, narrow_sql).output
        assert "1号机床" in narrow and "1 day" in narrow
    gaps = _cli(home, monkeypatch, gap + " ORDER BY ts_utc", "--format", fmt).output
    assert "00:05:00" in gaps


def test_cli_duplicate_column_names(home, monkeypatch) -> None:
    res = _cli(home, monkeypatch, "SELECT 1 AS a, 2 AS a", "--format", "json")
    assert res.exit_code == 0 and json.loads(res.output) == [{"a": 1, "a_2": 2}]


def test_refresh_sweeps_copies_a_killed_refresh_left_and_leaves_none_on_failure(home, monkeypatch):
    left = [home.root / f".{home.catalog.name}.999999.{end}" for end in ("tmp", "tmp.wal")]
    for f in left:
        f.write_bytes(b"half a catalog")
    catalog.refresh(home, ["equipment"])
    assert not any(f.exists() for f in left)

    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(catalog, "_build", broken)
    before = home.catalog.read_bytes()
    with pytest.raises(RuntimeError, match="disk full"):
        catalog.refresh(home, ["equipment"])
    assert home.catalog.read_bytes() == before, "a failed refresh must not touch the catalog"
    assert not list(home.root.glob(f".{home.catalog.name}.*.tmp*"))
