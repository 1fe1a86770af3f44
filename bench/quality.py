"""Benchmark the quality fast engine: vs GX's pandas engine, vs hand-written polars, and memory.

Prints::

    bench: quality.speedup_vs_gx V        GX time / fast-engine time (same suite, same rows)
    bench: quality.slowdown_vs_polars V   fast-engine time / hand-written polars time
    bench: quality.peak_over_data V       peak RSS growth during the fast engine / df.estimated_size()

Run: ``python -m bench.quality [--rows 10000000] [--gx-rows N]``. With ``--gx-rows`` below
``--rows`` GX runs on the first N rows and its time is scaled linearly (and the output says so).
"""

from __future__ import annotations

import argparse
import gc
import os
import threading
import time

os.environ["GX_ANALYTICS_ENABLED"] = "false"

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from quality.engine import run_suite  # noqa: E402
from quality.spec import Suite, validate_suite  # noqa: E402
from quality.suites._build import between, in_set, not_null, pair_greater, regex, unique  # noqa: E402

EQUIPMENT_RX = r"^site[0-9]/line[0-9]+/cnc-[0-9]{2}$"


def make_frame(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    value = rng.normal(500.0, 200.0, n)
    value[rng.random(n) < 0.001] = np.nan
    ids = np.arange(n, dtype=np.int64)
    ids[rng.integers(0, n, max(1, n // 100_000))] = 7  # a few duplicates
    equipment = [f"site{i % 10}/line{i % 7}/cnc-{i % 100:02d}" for i in range(1000)]
    equipment[13] = "SITE1/line1/cnc-1"  # one bad spelling, repeated
    b = rng.normal(0.0, 1.0, n)
    df = pl.DataFrame(
        {
            "id": ids,
            "value": value,
            "unit": pl.Series(np.where(rng.random(n) < 0.999, "K", "degC")).cast(pl.String),
            "equipment_id": pl.Series(equipment).gather(rng.integers(0, 1000, n)),
            "a": b + rng.random(n) * 2.0 - 0.001,
            "b": b,
        }
    )
    return df.with_columns(
        pl.when(pl.int_range(n) % 997 == 0).then(None).otherwise(pl.col("value")).alias("value")
    )


def bench_suite(schema: pl.Schema) -> Suite:
    specs = (
        not_null("value_not_null", "value"),
        between("value_range", "value", 0.0, 1273.15),
        in_set("unit_in_set", "unit", ["K", "Pa"]),
        regex("equipment_format", "equipment_id", EQUIPMENT_RX),
        unique("id_unique", "id"),
        pair_greater("a_gt_b", "a", "b"),
    )
    return validate_suite(Suite(name="bench_suite", table="bench", expectations=specs), schema)


def hand_polars(df: pl.DataFrame) -> dict[str, int]:
    """The same six checks as plain polars expressions (unexpected counts only)."""
    v, u, e, i = pl.col("value"), pl.col("unit"), pl.col("equipment_id"), pl.col("id")
    vmiss = v.is_null() | v.is_nan()
    amiss = pl.col("a").is_null() | pl.col("a").is_nan()
    bmiss = pl.col("b").is_null() | pl.col("b").is_nan()
    return df.select(
        vmiss.sum().alias("value_not_null"),
        (~vmiss & ~v.is_between(0.0, 1273.15)).sum().alias("value_range"),
        (u.is_not_null() & ~u.is_in(pl.lit(pl.Series(["K", "Pa"])).implode())).sum().alias("unit_in_set"),
        (e.is_not_null() & ~e.str.contains(EQUIPMENT_RX)).sum().alias("equipment_format"),
        (i.is_not_null() & i.is_duplicated()).sum().alias("id_unique"),
        (~(amiss | bmiss) & ~(pl.col("a") > pl.col("b"))).sum().alias("a_gt_b"),
    ).row(0, named=True)


def _rss() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRSS:
    """Sample VmRSS every few milliseconds in a background thread."""

    def __init__(self, every: float = 0.002) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(self.every)

    def __enter__(self) -> PeakRSS:
        self.peak = _rss()
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())


def _best(fn, repeat: int) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--gx-rows", type=int, default=None,
                    help="rows for the GX run (default: all); fewer rows are scaled linearly")  # fmt: skip
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    n = args.rows

    df = make_frame(n)
    suite = bench_suite(df.schema)
    data_bytes = df.estimated_size()
    print(f"bench: quality rows={n:,} expectations={len(suite.expectations)} "
          f"data={data_bytes / 2**20:.0f} MiB")  # fmt: skip

    # Peak memory first, on a clean heap: one fast run under the sampler.
    run_suite(df.head(10_000), suite)  # warm up (thread pool, regex cache)
    gc.collect()
    base = _rss()
    with PeakRSS() as peak:
        fast_res = run_suite(df, suite, engine="fast")
    peak_over = (peak.peak - base) / data_bytes
    assert all(r.engine == "fast" for r in fast_res.results)

    t_fast = _best(lambda: run_suite(df, suite, engine="fast"), args.repeat)
    t_pl = _best(lambda: hand_polars(df), args.repeat)
    want = hand_polars(df)
    got = {r.name: r.unexpected_count for r in fast_res.results}
    assert got == want, (got, want)
    print(f"bench: quality fast={t_fast:.3f}s polars={t_pl:.3f}s")

    gx_rows = min(args.gx_rows or n, n)
    sub = df if gx_rows == n else df.head(gx_rows)
    t = time.perf_counter()
    gx_res = run_suite(sub, suite, engine="gx")
    t_gx = time.perf_counter() - t
    if gx_rows < n:
        print(f"bench: quality GX timed on {gx_rows:,} of {n:,} rows ({t_gx:.1f}s) and scaled "
              f"linearly by {n / gx_rows:.1f}")  # fmt: skip
        t_gx *= n / gx_rows
    else:
        print(f"bench: quality gx={t_gx:.1f}s (full size)")
        assert {r.name: r.unexpected_count for r in gx_res.results} == got

    print(f"bench: quality.speedup_vs_gx {t_gx / t_fast:.1f}")
    print(f"bench: quality.slowdown_vs_polars {t_fast / t_pl:.2f}")
    print(f"bench: quality.peak_over_data {peak_over:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
