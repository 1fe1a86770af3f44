"""Benchmark the whole graph as the data grows, and two partitions at once on this machine.

Prints::

    bench: scale.time_50m_over_1m V      wall time of the whole graph at 50M sensor rows / at 1M
                                         (goal <= 60: near-linear)
    bench: scale.peak_gib_50m V          peak RSS (GiB) of the process running the graph at 50M
                                         (goal < 3: flat memory)
    bench: scale.parallel_speedup_2 V    two sources' ingests one after the other / the two at once
                                         in two processes (goal >= 1.5 on 2 cores)
    bench: scale.parallel_ceiling_2 V    the most any scheduler can get here: the one-after-the-
                                         other wall / (its CPU seconds / cores). One ingest that
                                         keeps 1.5 of 2 cores busy caps two at once at 1.33.
    bench: scale.parallel_speedup_2_floor V  the same two files through the raw libraries (polars
                                         read + one write_deltalake each), one after the other /
                                         at once: what the libraries themselves gain here
    bench: scale.parallel_speedup_2_floor_streamed V  the same, the raw libraries streamed (polars
                                         batches into one write_deltalake, reading while writing,
                                         as the ingest does): what a pipelined ingest can gain

Each size is one ``corpusmill run`` equivalent (:func:`pipelines.runner.run_pipeline`, in a child
process so its peak RSS is its own) on a fresh home: the sample factory at a scale proportional
to the size (its text, events, quality, images and its own sensor sources: scale 2 per million
rows), plus a long historian export with the size's rows (the ingest bench's generated file, 50
machines x 5 signals, registered aliases). Sizes default to 1M, 10M and 50M; ``--sizes 1,5``
(millions) runs smaller ones, and the ratio line then names the sizes it compares.

Run: ``python -m bench.scale [--sizes 1,10,50] [--parallel-rows N] [--skip graph,parallel]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from bench.ingest import OUT as INGEST_OUT
from bench.ingest import _registry_yaml, long_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "scale"
FACTORY_SCALE_PER_MILLION = 2


def _sources(rows: int) -> Path:
    """A sources file: the sample factory at a proportional scale plus a ``rows``-row historian."""
    from corpusmill.config import normalize_alias
    from corpusmill.generate import generate

    scale = max(1, round(rows / 1e6 * FACTORY_SCALE_PER_MILLION))
    factory = OUT / f"factory_s{scale}"
    if not (factory / "ground_truth.json").exists():
        generate(factory, scale=scale, seed=0)
    csv = long_file(rows)
    doc = yaml.safe_load((factory / "sources.yaml").read_text(encoding="utf-8"))
    # the historian's machines; a spelling the factory already registers (CNC-01) stays the
    # factory's machine, as one registry cannot name two machines with one alias
    taken = {normalize_alias(a) for e in doc.get("equipment", [])
             for a in [e["id"], e.get("name") or "", *e.get("aliases", [])]}  # fmt: skip
    extra = yaml.safe_load(_registry_yaml())["equipment"]
    for e in extra:
        e["aliases"] = [a for a in e["aliases"] if normalize_alias(a) not in taken]
    doc["equipment"] = [*doc.get("equipment", []), *extra]
    doc["sites"]["plant"] = {"timezone": "UTC"}
    doc["data_roots"] = [*doc.get("data_roots", ["."]), str(INGEST_OUT)]
    doc["sources"].append({
        "name": "bench_historian", "site": "plant", "kind": "sensor", "path": str(csv),
        "format": "csv", "read": {"encoding": "utf-8", "delimiter": ","}, "shape": "long",
        "fields": {"ts_utc": "ts", "equipment_id": "equipment", "signal": "signal",
                   "value": "value", "unit": "unit", "quality": "quality"},
    })  # fmt: skip
    out = factory / f"sources_bench_{rows}.yaml"  # beside the factory's: its relative paths hold
    out.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def _available_gib() -> float:
    """MemAvailable of this machine (GiB)."""
    with open("/proc/meminfo", encoding="ascii") as f:
        kib = next(int(ln.split()[1]) for ln in f if ln.startswith("MemAvailable:"))
    return kib / 2**20


def _projected_gib(runs: dict[float, dict], m: float) -> float | None:
    """The peak at ``m`` million rows, extrapolated linearly from the two largest runs so far."""
    if len(runs) < 2:
        return None
    (a, ra), (b, rb) = sorted(runs.items())[-2:]
    slope = (rb["peak_gib"] - ra["peak_gib"]) / (b - a)
    return rb["peak_gib"] + slope * (m - b)


def _child_graph(sources: str, home: str) -> int:
    """Child process entry: the whole graph on a fresh home; prints its seconds and rows."""
    import resource

    from pipelines.runner import run_pipeline

    report = run_pipeline(sources, home)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print("scale-child " + json.dumps({"seconds": report.seconds, "peak_gib": peak,
                                       "failed_checks": report.failed_checks,
                                       "steps": _step_seconds(report.run_ids)}), flush=True)  # fmt: skip
    return 0


def _step_seconds(run_ids: list[str]) -> dict[str, float]:
    """Seconds per step (asset) over the runs, from the Dagster instance the run used."""
    import dagster as dg

    out: dict[str, float] = {}
    instance = dg.DagsterInstance.get()
    for run_id in run_ids:
        for st in instance.get_run_step_stats(run_id):
            if st.start_time is not None and st.end_time is not None:
                out[st.step_key] = out.get(st.step_key, 0.0) + st.end_time - st.start_time
    return out


def _graph(sources: Path, home: Path) -> dict:
    cmd = [sys.executable, "-m", "bench.scale", "--child-graph", str(sources), str(home)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("scale-child ")), None)
    if out.returncode != 0 or line is None:
        raise SystemExit(f"bench: scale graph run failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(line.split(" ", 1)[1])


def _ingest_child(sources: str, lake_root: str, name: str) -> int:
    from corpusmill import config
    from corpusmill.ingest import ingest_source

    cfg = config.load(sources)
    ingest_source(cfg, cfg.source(name), lake_root, run_id="bench", force=True)
    return 0


def _two_sources(work: Path, rows: int) -> Path:
    """Two historian sources of ``rows`` rows each (two copies of one generated file)."""
    csv = long_file(rows)
    data = work / "two"
    data.mkdir(parents=True, exist_ok=True)
    for k in ("a", "b"):
        target = data / k / csv.name
        target.parent.mkdir(exist_ok=True)
        if not target.exists():
            os.link(csv, target) if csv.stat().st_dev == work.stat().st_dev else shutil.copy(csv, target)
    fields = ("{ts_utc: ts, equipment_id: equipment, signal: signal, value: value, unit: unit, "
              "quality: quality}")  # fmt: skip
    srcs = "".join(
        f"  - {{name: hist_{k}, site: plant, kind: sensor, path: '{data / k}/*.csv', format: csv,"
        f" read: {{encoding: utf-8, delimiter: ','}}, shape: long, fields: {fields}}}\n"
        for k in ("a", "b")
    )
    text = (f"version: 1\ndata_roots: ['{data}']\nsites:\n  plant: {{timezone: UTC}}\n"
            f"{_registry_yaml()}\nsources:\n{srcs}")  # fmt: skip
    path = work / "sources_two.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _floor_child(csv: str, out: str, mode: str) -> int:
    from bench.ingest import run_floor_long

    if mode == "collect":
        run_floor_long(Path(csv), Path(out))
    else:
        _run_floor_streamed(Path(csv), Path(out))
    return 0


def _run_floor_streamed(csv: Path, out: Path) -> None:
    """The raw libraries pipelined: polars decodes a batch while delta-rs encodes the last one."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from bench.ingest import floor_long_query

    frames = floor_long_query(csv).collect_batches(chunk_size=250_000)
    first = next(frames).to_arrow()

    def batches() -> Iterator[pa.RecordBatch]:
        yield from first.to_batches()
        for frame in frames:
            yield from frame.to_arrow().to_batches()

    reader = pa.RecordBatchReader.from_batches(first.schema, batches())
    write_deltalake(str(out), reader, mode="overwrite")


def _ingests(sources: Path, lake_root: Path, names: list[str], *, parallel: bool
             ) -> tuple[float, float]:  # fmt: skip
    """(wall seconds, CPU seconds of the child processes) of ingesting ``names``."""
    return _children([["--child-ingest", str(sources), str(lake_root), n] for n in names],
                     parallel=parallel)  # fmt: skip


def _floors(csv: Path, out: Path, *, parallel: bool, mode: str = "collect"
            ) -> tuple[float, float]:  # fmt: skip
    """The same for the raw libraries: two polars reads of ``csv``, each with one write_deltalake
    (``mode`` "collect": the whole frame, then the write; "streamed": batches into the write)."""
    return _children([["--child-floor", str(csv), str(out / k), mode] for k in ("a", "b")],
                     parallel=parallel)  # fmt: skip


def _children(args: list[list[str]], *, parallel: bool) -> tuple[float, float]:
    import resource

    cmds = [[sys.executable, "-m", "bench.scale", *a] for a in args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    if parallel:
        procs = [subprocess.Popen(c, cwd=ROOT) for c in cmds]
        codes = [p.wait() for p in procs]
    else:
        codes = [subprocess.run(c, cwd=ROOT, check=False).returncode for c in cmds]
    if any(codes):
        raise SystemExit(f"bench: scale child failed: exit codes {codes}")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,10,50", help="sensor rows in millions, comma separated")
    ap.add_argument("--parallel-rows", type=int, default=5_000_000,
                    help="rows of each of the two sources of the parallel run")  # fmt: skip
    ap.add_argument("--skip", default="", help="comma list of graph, parallel to skip")
    ap.add_argument("--child-graph", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--child-ingest", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--child-floor", nargs=3, help=argparse.SUPPRESS)
    ns = ap.parse_args(argv)
    if ns.child_graph:
        return _child_graph(*ns.child_graph)
    if ns.child_ingest:
        return _ingest_child(*ns.child_ingest)
    if ns.child_floor:
        return _floor_child(*ns.child_floor)
    skip = {s.strip() for s in ns.skip.split(",") if s.strip()}
    sizes = [float(s) for s in ns.sizes.split(",") if s.strip()]
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=OUT))
    try:
        if "graph" not in skip:
            runs: dict[float, dict] = {}
            for m in sizes:
                rows = int(m * 1e6)
                projected = _projected_gib(runs, m)
                if projected is not None and projected > 0.8 * _available_gib():
                    print(f"bench: scale graph {rows:,} sensor rows NOT RUN: its peak, projected "
                          f"linearly from the smaller sizes, is {projected:.1f} GiB and this machine "
                          f"has {_available_gib():.1f} GiB available", flush=True)  # fmt: skip
                    continue
                sources = _sources(rows)
                r = _graph(sources, work / f"home_{rows}")
                runs[m] = r
                print(f"bench: scale graph {rows:,} sensor rows: {r['seconds']:.1f}s "
                      f"({rows / r['seconds'] / 1e6:.2f}M rows/s), peak {r['peak_gib']:.2f} GiB, "
                      f"failed checks {r['failed_checks'] or 'none'}", flush=True)  # fmt: skip
                slowest = sorted(r["steps"].items(), key=lambda kv: -kv[1])[:6]
                print(f"bench: scale graph {rows:,} slowest steps: "
                      + ", ".join(f"{k} {v:.1f}s" for k, v in slowest), flush=True)  # fmt: skip
                shutil.rmtree(work / f"home_{rows}", ignore_errors=True)
            lo, hi = min(runs), max(runs)
            note = "" if (lo, hi) == (1, 50) else f"  # {hi:g}M over {lo:g}M, not 50M over 1M"
            print(f"bench: scale.time_50m_over_1m {runs[hi]['seconds'] / runs[lo]['seconds']:.1f}{note}")
            print(f"bench: scale.peak_gib_50m {runs[hi]['peak_gib']:.2f}"
                  + ("" if hi == 50 else f"  # at {hi:g}M, not 50M"), flush=True)  # fmt: skip
        if "parallel" not in skip:
            sources = _two_sources(work, ns.parallel_rows)
            seq, seq_cpu = _ingests(sources, work / "lake_seq", ["hist_a", "hist_b"], parallel=False)
            par, par_cpu = _ingests(sources, work / "lake_par", ["hist_a", "hist_b"], parallel=True)
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
            # one after the other, each ingest kept seq_cpu / seq cores busy; at once, the two
            # cannot finish before their CPU seconds spread over every core: the ceiling
            ceiling = min(2.0, seq / (seq_cpu / (cores or 1)))
            print(f"bench: scale two sources x {ns.parallel_rows:,} rows: one after the other "
                  f"{seq:.1f}s ({seq_cpu:.1f} CPU-s, {seq_cpu / seq:.2f} cores busy), at once "
                  f"{par:.1f}s ({par_cpu:.1f} CPU-s) on {cores} cores", flush=True)  # fmt: skip
            print(f"bench: scale.parallel_speedup_2 {seq / par:.2f}", flush=True)
            print(f"bench: scale.parallel_ceiling_2 {ceiling:.2f}", flush=True)
            csv = long_file(ns.parallel_rows)
            fseq, fseq_cpu = _floors(csv, work / "floor_seq", parallel=False)
            fpar, _ = _floors(csv, work / "floor_par", parallel=True)
            print(f"bench: scale the raw libraries (polars read + write_deltalake) on the same two "
                  f"files: one after the other {fseq:.1f}s ({fseq_cpu / fseq:.2f} cores busy), at "
                  f"once {fpar:.1f}s", flush=True)  # fmt: skip
            print(f"bench: scale.parallel_speedup_2_floor {fseq / fpar:.2f}", flush=True)
            sseq, sseq_cpu = _floors(csv, work / "stream_seq", parallel=False, mode="streamed")
            spar, _ = _floors(csv, work / "stream_par", parallel=True, mode="streamed")
            print(f"bench: scale the raw libraries streamed (polars batches into write_deltalake) "
                  f"on the same two files: one after the other {sseq:.1f}s ({sseq_cpu / sseq:.2f} "
                  f"cores busy), at once {spar:.1f}s", flush=True)  # fmt: skip
            print(f"bench: scale.parallel_speedup_2_floor_streamed {sseq / spar:.2f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
