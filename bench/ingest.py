"""Benchmark ingest: throughput against a raw polars + Delta floor, and peak memory when streaming.

Prints::

    bench: ingest.floor_ratio V        ingest throughput / floor throughput, 10M-row long sensor CSV
    bench: ingest.peak_gib_50m V       peak RSS (GiB) of a child process ingesting a 50M-row CSV
    bench: ingest.wide_floor_ratio V   the same ratio for a wide historian CSV (500 tags x 100k rows)

The ingest is :func:`corpusmill.ingest.ingest_source` on a generated ``sources.yaml`` (fields mapped,
``read.encoding: utf-8``, an equipment registry with every alias used, UTC). The floor is the least a
pipeline has to do with the same file: polars reads it with the timestamp parsed (wide: unpivoted)
and writes the collected frame to a Delta table in one ``write_deltalake``. Goals: ratios >= 0.7,
peak under 3 GiB.

Input files are generated once (seeded, streamed in 1M-row chunks with ``write_csv``) and cached in
``bench/out/ingest/``. Run: ``python -m bench.ingest [--rows N] [--peak-rows N] [--wide-rows N]
[--repeat R] [--skip floor,peak,wide] [--keep]``; ``--rows N`` alone scales all three down.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "ingest"
CHUNK_ROWS = 1_000_000
GEN_VERSION = 1  # bump when the generators change (cached files are named by it)

# -- the long sensor file -----------------------------------------------------------------------

SIGNALS = {  # source signal -> unit
    "SpindleTemp": "degC",
    "CoolantPressure": "bar",
    "Vibration": "mm/s",
    "MotorCurrent": "A",
    "Power": "kW",
}
N_EQUIPMENT = 50
T0 = 1_709_251_200  # 2024-03-01T00:00:00Z, seconds


def equipment_ids() -> list[str]:
    return [f"plant/line{i // 10 + 1}/cell{i % 10 + 1}/cnc-{i + 1:02d}" for i in range(N_EQUIPMENT)]


def equipment_aliases(i: int) -> list[str]:
    """The spellings exports use for machine i (each one is registered)."""
    return [f"CNC-{i + 1:02d}", f"cnc{i + 1:02d}", f"Line{i // 10 + 1} CNC {i + 1:02d}"]


def _long_chunk(start: int, n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng([seed, start])
    i = np.arange(start, start + n, dtype=np.int64)
    per_ts = N_EQUIPMENT * len(SIGNALS)
    sig_names = list(SIGNALS)
    eq = (i // len(SIGNALS)) % N_EQUIPMENT
    spelling = rng.integers(0, 3, n)
    aliases = [a for k in range(N_EQUIPMENT) for a in equipment_aliases(k)]
    quality = np.where(rng.random(n) < 0.98, "Good", "Uncertain")
    return pl.DataFrame(
        {
            "ts": pl.Series((T0 + i // per_ts) * 1_000_000, dtype=pl.Int64)
            .cast(pl.Datetime("us"))
            .dt.to_string("%Y-%m-%dT%H:%M:%S"),
            "equipment": pl.Series(aliases).gather(eq * 3 + spelling),
            "signal": pl.Series(sig_names).gather(i % len(SIGNALS)),
            "value": np.round(rng.normal(50.0, 15.0, n), 3),
            "unit": pl.Series(list(SIGNALS.values())).gather(i % len(SIGNALS)),
            "quality": quality,
        }
    )


def _wide_chunk(start: int, n: int, seed: int, tags: list[str]) -> pl.DataFrame:
    rng = np.random.default_rng([seed, start])
    i = np.arange(start, start + n, dtype=np.int64)
    cols = {
        "Timestamp": pl.Series((T0 + i) * 1_000_000, dtype=pl.Int64)
        .cast(pl.Datetime("us"))
        .dt.to_string("%Y-%m-%d %H:%M:%S")
    }
    vals = np.round(rng.normal(50.0, 15.0, (len(tags), n)), 2)
    for k, t in enumerate(tags):
        cols[t] = vals[k]
    return pl.DataFrame(cols)


def wide_tags(n_tags: int) -> list[str]:
    sigs = list(SIGNALS)
    per_eq = 10
    out = []
    for k in range(n_tags):
        eq, s = divmod(k, per_eq)
        out.append(f"CNC{eq + 1:02d}.{sigs[s % len(sigs)]}{s // len(sigs) + 1}")
    return out


def generate(path: Path, rows: int, chunk_fn, *, say=print) -> Path:
    """Write ``rows`` rows produced by ``chunk_fn(start, n)`` to ``path`` (cached), in chunks."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    t0 = time.perf_counter()
    with open(tmp, "wb") as f:
        for start in range(0, rows, CHUNK_ROWS):
            chunk_fn(start, min(CHUNK_ROWS, rows - start)).write_csv(f, include_header=start == 0)
    tmp.rename(path)
    say(f"bench: ingest generated {path.name} ({path.stat().st_size / 2**20:,.0f} MiB) "
        f"in {time.perf_counter() - t0:.1f}s")  # fmt: skip
    return path


def long_file(rows: int, seed: int = 7) -> Path:
    path = OUT / f"sensor_long_{rows}_s{seed}_v{GEN_VERSION}.csv"
    return generate(path, rows, lambda s, n: _long_chunk(s, n, seed))


def wide_file(rows: int, n_tags: int, seed: int = 11) -> Path:
    tags = wide_tags(n_tags)
    path = OUT / f"sensor_wide_{rows}x{n_tags}_s{seed}_v{GEN_VERSION}.csv"
    return generate(path, rows, lambda s, n: _wide_chunk(s, n, seed, tags))


# -- sources.yaml --------------------------------------------------------------------------------


def _registry_yaml() -> str:
    lines = ["equipment:"]
    for k, eid in enumerate(equipment_ids()):
        aliases = ", ".join(f'"{a}"' for a in [*equipment_aliases(k), f"CNC{k + 1:02d}"])
        lines.append(f"  - {{id: {eid}, aliases: [{aliases}]}}")
    return "\n".join(lines)


def write_sources(workdir: Path, csv: Path, shape: str) -> Path:
    if shape == "long":
        block = """\
    shape: long
    fields: {ts_utc: ts, equipment_id: equipment, signal: signal, value: value, unit: unit,
             quality: quality}"""
    else:
        units = ", ".join(f"{s}{k}: {u}" for s, u in SIGNALS.items() for k in (1, 2))
        block = f"""\
    shape: wide
    wide:
      time_column: Timestamp
      equipment_from_tag: '^(?P<equipment>[^.]+)\\.(?P<signal>.+)$'
    signal_units: {{{units}}}"""
    text = f"""\
version: 1
data_roots: ["{csv.parent}"]
sites:
  plant: {{timezone: UTC}}
{_registry_yaml()}
sources:
  - name: bench_{shape}
    site: plant
    kind: sensor
    path: "{csv}"
    format: csv
    read: {{encoding: utf-8, delimiter: ","}}
{block}
"""
    p = workdir / f"sources_{shape}.yaml"
    p.write_text(text, encoding="utf-8")
    return p


# -- the runs -------------------------------------------------------------------------------------


def run_ingest(sources: Path, lake_root: Path) -> tuple[float, dict]:
    from corpusmill import config
    from corpusmill.ingest import ingest_source

    cfg = config.load(sources)
    src = cfg.sources[0]
    t0 = time.perf_counter()
    res = ingest_source(cfg, src, lake_root, run_id="bench", force=True)
    return time.perf_counter() - t0, res.summary()


def floor_long_query(csv: Path) -> pl.LazyFrame:
    """The raw libraries' read of a long export: the CSV with its timestamps parsed."""
    return pl.scan_csv(csv).with_columns(
        pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S", time_unit="us", time_zone="UTC")
    )


def run_floor_long(csv: Path, out: Path) -> tuple[float, int]:
    from deltalake import write_deltalake

    t0 = time.perf_counter()
    df = floor_long_query(csv).collect()
    write_deltalake(str(out), df.to_arrow(), mode="overwrite")
    return time.perf_counter() - t0, df.height


def run_floor_wide(csv: Path, out: Path) -> tuple[float, int]:
    from deltalake import write_deltalake

    t0 = time.perf_counter()
    df = (
        pl.scan_csv(csv)
        .unpivot(index="Timestamp", variable_name="tag", value_name="value")
        .with_columns(pl.col("Timestamp").str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us",
                                                          time_zone="UTC"))  # fmt: skip
        .collect()
    )
    write_deltalake(str(out), df.to_arrow(), mode="overwrite")
    return time.perf_counter() - t0, df.height


def _child_ingest(sources: str, lake_root: str) -> int:
    """Child process entry: only the ingest, so its peak RSS is the ingest's."""
    seconds, summary = run_ingest(Path(sources), Path(lake_root))
    print(f"bench: ingest child {seconds:.2f}s rows_kept={summary['rows_kept']:,} "
          f"quarantined={summary['rows_quarantined']:,}", flush=True)  # fmt: skip
    return 0


def peak_child(sources: Path, lake_root: Path) -> tuple[float, float, int]:
    """(peak RSS GiB, seconds, exit code) of a child process doing one ingest."""
    cmd = [sys.executable, "-m", "bench.ingest", "--child-ingest", str(sources), str(lake_root)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 2**20, time.perf_counter() - t0, proc.returncode  # KiB -> GiB


def _best(fn, repeat: int) -> tuple[float, float, object]:
    """(best wall seconds, CPU seconds of that run, its result): CPU is all threads of this process,
    a steadier figure than wall time on a box shared with other work."""
    best, cpu, out = float("inf"), 0.0, None
    for _ in range(repeat):
        c0 = time.process_time()
        t, res = fn()
        c = time.process_time() - c0
        if t < best:
            best, cpu, out = t, c, res
    return best, cpu, out


def _ratio(name: str, csv: Path, shape: str, floor_fn, work: Path, repeat: int) -> float:
    sources = write_sources(work, csv, shape)
    t_floor, c_floor, rows_floor = _best(lambda: floor_fn(csv, work / f"floor_{shape}"), repeat)

    def ingest():
        lake = work / f"lake_{shape}"
        shutil.rmtree(lake, ignore_errors=True)
        return run_ingest(sources, lake)

    t_ing, c_ing, summary = _best(ingest, repeat)
    units = summary["units_in"]
    kept, quarantined = summary["rows_kept"], summary["rows_quarantined"]
    if kept + quarantined != units or kept != rows_floor:
        print(f"bench: ingest WARNING {shape}: units_in={units:,} kept={kept:,} "
              f"quarantined={quarantined:,} floor rows={rows_floor:,}")  # fmt: skip
    tp_floor, tp_ing = rows_floor / t_floor, units / t_ing
    print(f"bench: ingest {shape} rows={units:,} file={csv.stat().st_size / 2**20:,.0f} MiB "
          f"floor={t_floor:.2f}s ({tp_floor / 1e6:.2f}M rows/s) "
          f"ingest={t_ing:.2f}s ({tp_ing / 1e6:.2f}M rows/s) best of {repeat}; CPU-s floor="
          f"{c_floor:.2f} ingest={c_ing:.2f} (CPU ratio {c_floor / c_ing:.2f})")  # fmt: skip
    ratio = tp_ing / tp_floor
    print(f"bench: ingest.{name} {ratio:.2f}", flush=True)
    return ratio


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of the long file")
    ap.add_argument("--peak-rows", type=int, default=None,
                    help="rows of the memory run (default 50M; 5x --rows when --rows is given)")
    ap.add_argument("--wide-rows", type=int, default=None,
                    help="rows of the wide file (default 100k; --rows/100 when --rows is given)")
    ap.add_argument("--tags", type=int, default=500, help="tag columns of the wide file")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per side; the best counts")
    ap.add_argument("--skip", default="", help="comma list of floor, peak, wide to skip")
    ap.add_argument("--keep", action="store_true", help="keep the Delta tables written")
    ap.add_argument("--child-ingest", nargs=2, metavar=("SOURCES", "LAKE"), help=argparse.SUPPRESS)
    ns = ap.parse_args(argv)
    if ns.child_ingest:
        return _child_ingest(*ns.child_ingest)
    scaled = ns.rows != 10_000_000
    peak_rows = ns.peak_rows or (ns.rows * 5 if scaled else 50_000_000)
    wide_rows = ns.wide_rows or (max(1000, ns.rows // 100) if scaled else 100_000)
    skip = {s.strip() for s in ns.skip.split(",") if s.strip()}
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=OUT))
    from corpusmill.ingest import writer_threads

    print(f"bench: ingest polars {pl.__version__}, Parquet writer threads {writer_threads()} "
          f"(${'CORPUSMILL_INGEST_WRITERS'}), work dir {work}", flush=True)  # fmt: skip
    try:
        if "floor" not in skip:
            _ratio("floor_ratio", long_file(ns.rows), "long", run_floor_long, work, ns.repeat)
        if "peak" not in skip:
            csv = long_file(peak_rows)
            sources = write_sources(work, csv, "long")
            gib, seconds, rc = peak_child(sources, work / "lake_peak")
            note = "" if peak_rows == 50_000_000 else f"  # {peak_rows:,} rows, not 50M"
            print(f"bench: ingest peak run rows={peak_rows:,} "
                  f"file={csv.stat().st_size / 2**30:.2f} GiB {seconds:.1f}s "
                  f"({peak_rows / seconds / 1e6:.2f}M rows/s) exit {rc}")  # fmt: skip
            if rc != 0:
                return rc
            print(f"bench: ingest.peak_gib_50m {gib:.2f}{note}", flush=True)
        if "wide" not in skip:
            csv = wide_file(wide_rows, ns.tags)
            _ratio("wide_floor_ratio", csv, "wide", run_floor_wide, work, ns.repeat)
    finally:
        if ns.keep:
            print(f"bench: ingest kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
