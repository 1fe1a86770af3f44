"""Ingest reports its progress (files, rows, bytes) to the process's watcher, and the command
line's display turns that into per-source bars on a terminal and one line per source elsewhere."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from corpusmill import config
from corpusmill.ingest import ingest_source
from corpusmill.progress import Progress, Tally, current, watching
from pipelines.live import RunDisplay

SOURCES = """\
version: 1
data_roots: [data]
sites:
  plant: {timezone: Asia/Shanghai}
equipment:
  - {id: plant/machining/line1/cnc-01, name: CNC 1, aliases: [CNC-01]}
sources:
  - name: line
    site: plant
    kind: sensor
    path: data/*.csv
    format: csv
    fields: {ts_utc: time, equipment_id: machine, signal: tag, value: value}
"""


def _rows(n: int, bad_every: int = 0) -> str:
    lines = ["time,machine,tag,value"]
    for i in range(n):
        value = "Bad" if bad_every and i % bad_every == 0 else f"{i * 0.5:.1f}"
        lines.append(f"2024-03-05 08:{i // 60 % 60:02d}:{i % 60:02d},CNC-01,temp,{value}")
    return "\n".join(lines) + "\n"


def _project(tmp_path: Path) -> tuple[config.SourcesConfig, Path, dict[str, int]]:
    data = tmp_path / "data"
    data.mkdir()
    files = {"a.csv": _rows(1200), "b.csv": _rows(300, bad_every=7), "c.csv": _rows(5)}
    for name, text in files.items():
        (data / name).write_text(text, encoding="utf-8")
    (tmp_path / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    sizes = {n: (data / n).stat().st_size for n in files}
    return config.load(tmp_path / "sources.yaml"), tmp_path / "lake", sizes


def test_ingest_reports_every_file_row_and_byte(tmp_path: Path) -> None:
    cfg, root, sizes = _project(tmp_path)
    with watching(Tally()) as tally:
        result = ingest_source(cfg, cfg.source("line"), root, run_id="r1")
    seen = tally.sources["line"]
    assert (seen.files_total, seen.files, seen.done) == (3, 3, True)
    assert seen.bytes_total == seen.bytes == sum(sizes.values())
    # every row read is counted, kept or quarantined ("Bad" values)
    kept = sum(f.rows_kept for f in result.files)
    quarantined = sum(f.rows_quarantined for f in result.files)
    assert quarantined == 43 and seen.rows == kept + quarantined == 1505
    assert isinstance(current(), Progress) and current() is not tally  # restored after the block


def test_an_unchanged_rerun_reports_nothing_to_read(tmp_path: Path) -> None:
    cfg, root, _ = _project(tmp_path)
    ingest_source(cfg, cfg.source("line"), root, run_id="r1")
    with watching(Tally()) as tally:
        ingest_source(cfg, cfg.source("line"), root, run_id="r2")
    assert tally.sources == {}


def _feed(display: RunDisplay) -> None:
    display.say("ingest staged_sensor_readings (1 source(s): line)")
    display.source_started("line", files=2, nbytes=3000)
    display.rows_read("line", 1000)
    display.file_done("line", "a.csv", nbytes=2000)
    display.rows_read("line", 500)
    display.file_done("line", "b.csv", nbytes=1000)
    display.source_done("line")


def test_display_prints_one_line_per_source_off_a_terminal() -> None:
    out = io.StringIO()
    with RunDisplay(Console(file=out, force_terminal=False, width=120)) as display:
        _feed(display)
    text = out.getvalue()
    assert "› ingest staged_sensor_readings (1 source(s): line)" in text
    assert "› ingest line: 2 file(s), 1,500 rows in " in text and "rows/s" in text
    assert "━" not in text  # no bars in logs


def test_display_draws_a_bar_per_source_on_a_terminal() -> None:
    out = io.StringIO()
    with RunDisplay(Console(file=out, force_terminal=True, width=140)) as display:
        _feed(display)
    text = out.getvalue()
    assert "ingest line" in text and "2/2 files" in text and "1,500 rows" in text
    assert "━" in text
