"""What a sources file is checked for at load (and against the disk before a run): each mistake a
user made gives an error naming the file, the source and the field, before any data is read."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from corpusmill import config, preflight
from corpusmill.yamlfile import safe_load

REPO = Path(__file__).resolve().parents[1]

HEAD = """\
version: 1
sources:
"""

SENSOR = """\
  - name: line
    site: plant
    kind: sensor
    path: x.csv
    format: csv
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(config.ConfigError) as e:
        config.load(_write(tmp_path, text))
    msg = str(e.value)
    assert str(tmp_path / "sources.yaml") in msg
    return msg


def test_unknown_field_lists_the_columns_and_suggests(tmp_path: Path) -> None:
    msg = _error(tmp_path, HEAD + SENSOR + "    fields: {ts_utc: t, valeu: v}\n")
    assert "source 'line'" in msg and "field 'fields'" in msg
    assert "'valeu' (did you mean 'value'?)" in msg
    assert "sensor_readings" in msg and "ts_utc, batch_id" in msg


def test_unknown_constant_is_refused(tmp_path: Path) -> None:
    block = SENSOR.replace("kind: sensor", "kind: document").replace("format: csv", "format: text")
    msg = _error(tmp_path, HEAD + block + "    constants: {doc_typ: ticket}\n")
    assert "field 'constants'" in msg and "did you mean 'doc_type'?" in msg


def test_unknown_unit_names_the_unit(tmp_path: Path) -> None:
    msg = _error(tmp_path, HEAD + SENSOR + "    units: {value: parsecs_per_fortnight}\n")
    assert "field 'units'" in msg and "'parsecs_per_fortnight'" in msg and "unknown unit" in msg


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ("    signal_units: {temp: blorps}\n", "signal_units"),
        ("    shape: wide\n    wide: {time_column: t, tags: {A: {unit: blorps}}}\n",
         "wide.tags.A.unit"),
        ("    shape: batch\n    batch: {batch_column: b, offset_column: o, offset_unit: blorps}\n",
         "batch.offset_unit"),
    ],
)  # fmt: skip
def test_every_unit_field_is_checked(tmp_path: Path, block: str, field: str) -> None:
    msg = _error(tmp_path, HEAD + SENSOR + block)
    assert f"field '{field}'" in msg and "blorps" in msg


def test_batch_offset_unit_must_be_a_time(tmp_path: Path) -> None:
    block = "    shape: batch\n    batch: {batch_column: b, offset_column: o, offset_unit: m}\n"
    assert "not a unit of time" in _error(tmp_path, HEAD + SENSOR + block)


def test_units_aliases_still_load(tmp_path: Path) -> None:
    cfg = config.load(_write(tmp_path, HEAD + SENSOR + "    units: {value: °F}\n"))
    assert cfg.sources[0].units == {"value": "°F"}


def test_bad_encoding(tmp_path: Path) -> None:
    msg = _error(tmp_path, HEAD + SENSOR + "    read: {encoding: klingon-8}\n")
    assert "field 'read.encoding'" in msg and "unknown encoding 'klingon-8'" in msg
    ok = config.load(_write(tmp_path, HEAD + SENSOR + "    read: {encoding: GB18030}\n"))
    assert ok.sources[0].read.encoding == "GB18030"


@pytest.mark.parametrize("fmt", ["%Q-%m", "%Y-%m-%d %", "%Y-%m-%d %H:%M:%S %K"])
def test_bad_time_format(tmp_path: Path, fmt: str) -> None:
    msg = _error(tmp_path, HEAD + SENSOR + f"    time: {{format: '{fmt}'}}\n")
    assert "field 'time.format'" in msg and "unknown directive" in msg


@pytest.mark.parametrize(
    "fmt", ["%Y-%m-%d %H:%M:%S%.f", "%d/%m/%Y %-H:%M", "%Y-%m-%dT%H:%M:%S%:z", "%s", "%F %T 100%%"]
)
def test_good_time_formats(tmp_path: Path, fmt: str) -> None:
    cfg = config.load(_write(tmp_path, HEAD + SENSOR + f"    time: {{format: '{fmt}'}}\n"))
    assert cfg.sources[0].time.format == fmt


def test_tag_columns_regex_compiles(tmp_path: Path) -> None:
    block = "    shape: wide\n    wide: {time_column: t, tag_columns: '(unclosed'}\n"
    assert "field 'wide.tag_columns'" in _error(tmp_path, HEAD + SENSOR + block)


def test_join_and_sidecar_blocks_are_complete(tmp_path: Path) -> None:
    msg = _error(tmp_path, HEAD + SENSOR + "    join: [{path: y.csv, format: csv}]\n")
    assert "field 'join.0.on'" in msg and "required field is missing" in msg
    msg = _error(tmp_path, HEAD + SENSOR + "    join: [{path: y.pdf, format: pdf, on: {a: b}}]\n")
    assert "field 'join.0.format'" in msg
    msg = _error(tmp_path, HEAD + SENSOR + "    join: [{path: y.csv, format: csv, on: {}}]\n")
    assert "field 'join.0.on'" in msg
    msg = _error(tmp_path, HEAD + SENSOR + "    sidecar: {path: labels.csv}\n")
    assert "sidecar" in msg and "format: images only" in msg


def test_duplicate_key_names_the_line_and_key(tmp_path: Path) -> None:
    msg = _error(tmp_path, HEAD + SENSOR + "    format: tsv\n")
    assert "line 8" in msg and "duplicate key 'format'" in msg and "first defined at line 7" in msg


def test_yaml_12_booleans(tmp_path: Path) -> None:
    assert safe_load("[on, off, yes, no, y, n, ON, No, Y, true, false, True]") == [
        "on", "off", "yes", "no", "y", "n", "ON", "No", "Y", True, False, True,
    ]  # fmt: skip
    block = SENSOR + (
        "    fields: {value: no, signal: on}\n"
        "    read: {header: false, columns: [no, on, yes]}\n"
        "    join: [{path: y.csv, format: csv, on: {no: off}}]\n"
    )
    src = config.load(_write(tmp_path, HEAD + block)).sources[0]
    assert src.fields == {"value": "no", "signal": "on"}
    assert src.read.columns == ["no", "on", "yes"]
    assert src.join[0].on == {"no": "off"}


# -- paths against the disk -------------------------------------------------------------------


def _two_sources(tmp_path: Path, allow_empty: bool) -> config.SourcesConfig:
    """'line' has its file; 'later' matches nothing (allow_empty or not); without allow_empty a
    third source 'gone' names a file that is not there."""
    (tmp_path / "x.csv").write_text("a\n1\n", encoding="utf-8")
    later = SENSOR.replace("name: line", "name: later").replace("path: x.csv", "path: 'later/*.csv'")
    if allow_empty:
        text = HEAD + SENSOR + later + "    allow_empty: true\n"
    else:
        gone = SENSOR.replace("name: line", "name: gone").replace("path: x.csv", "path: gone.csv")
        text = HEAD + SENSOR + later + gone
    return config.load(_write(tmp_path, text))


def test_a_path_matching_nothing_is_an_error(tmp_path: Path) -> None:
    cfg = _two_sources(tmp_path, allow_empty=False)
    with pytest.raises(preflight.PathError) as e:
        preflight.check_paths(cfg, path=tmp_path / "sources.yaml")
    msg = str(e.value)
    assert "2 problem(s)" in msg
    assert "source 'later': path 'later/*.csv'" in msg and "matches no file" in msg
    assert "source 'gone': path 'gone.csv'" in msg and "allow_empty: true" in msg
    assert "source 'line'" not in msg
    assert isinstance(e.value, config.ConfigError)


def test_allow_empty_makes_it_a_warning(tmp_path: Path) -> None:
    cfg = _two_sources(tmp_path, allow_empty=True)
    assert cfg.source("later").allow_empty and not cfg.source("line").allow_empty
    with pytest.warns(preflight.EmptySourceWarning, match="later"):
        files = preflight.check_paths(cfg)
    assert files == {"line": [str((tmp_path / "x.csv").resolve())], "later": []}


def test_a_missing_join_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a\n1\n", encoding="utf-8")
    block = SENSOR + "    join: [{path: y.csv, format: csv, on: {a: b}}]\n"
    cfg = config.load(_write(tmp_path, HEAD + block))
    with pytest.raises(preflight.PathError, match=r"join\[0\] file 'y.csv' not found"):
        preflight.check_paths(cfg)


# -- the real examples stay clean -------------------------------------------------------------


def test_real_datasets_load_and_check_clean() -> None:
    cfg = config.load(REPO / "examples/real-datasets/sources.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = preflight.check_paths(cfg)
    assert all(files[s.name] for s in cfg.sources)


def test_sample_factory_loads_and_checks_clean(tmp_path: Path) -> None:
    from corpusmill.generate import generate

    generate(tmp_path, scale=1, seed=0)
    cfg = config.load(tmp_path / "sources.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = preflight.check_paths(cfg)
    assert all(files[s.name] for s in cfg.sources if s.kind != "equipment")


# -- corpusmill check -------------------------------------------------------------------------


def test_check_command_on_a_valid_file(tmp_path: Path) -> None:
    from pipelines.cli import main

    (tmp_path / "x.csv").write_text(
        "t,eq,sig,v,u\n2024-03-01 10:00:00,CNC-01,temp,20.5,degC\n"
        "2024-03-01 10:00:01,CNC-01,press,1.5,bar\n",
        encoding="utf-8",
    )
    block = SENSOR + "    fields: {ts_utc: t, equipment_id: eq, signal: sig, value: v, unit: u}\n"
    sources = _write(tmp_path, HEAD + block + "    on_unknown_equipment: keep\n")
    res = CliRunner().invoke(main, ["check", "--sources", str(sources)])
    assert res.exit_code == 0, res.output
    assert "line" in res.output and "x.csv" in res.output and "utf-8" in res.output
    assert "preview (best-effort)" in res.output and "293.65" in res.output  # 20.5 degC in K
    assert "ok:" in res.output


def test_check_command_on_an_invalid_file(tmp_path: Path) -> None:
    from pipelines.cli import main

    sources = _write(tmp_path, HEAD + SENSOR + "    units: {value: parsecs_per_fortnight}\n")
    res = CliRunner().invoke(main, ["check", "--sources", str(sources)])
    assert res.exit_code == 2
    assert "parsecs_per_fortnight" in res.output and "source 'line'" in res.output


def test_check_command_on_a_path_matching_nothing(tmp_path: Path) -> None:
    from pipelines.cli import main

    sources = _write(tmp_path, HEAD + SENSOR)
    res = CliRunner().invoke(main, ["check", "--sources", str(sources)])
    assert res.exit_code == 2
    assert "matches no file" in res.output


def test_run_refuses_a_path_matching_nothing_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corpusmill.home import Home
    from pipelines.runner import run_pipeline

    sources = _write(tmp_path, HEAD + SENSOR)
    home = tmp_path / "home"
    for var in ("CORPUSMILL_HOME", "DAGSTER_HOME", "GX_HOME"):  # activate() sets them: restore
        monkeypatch.setenv(var, str(home))
    with pytest.raises(preflight.PathError, match="source 'line': path 'x.csv'"):
        run_pipeline(sources, home)
    assert not Home(home).state_file.exists()


def test_check_has_help() -> None:
    from pipelines.cli import main

    res = CliRunner().invoke(main, ["check", "--help"])
    assert res.exit_code == 0 and "--sources" in res.output
