"""Run the benchmarks: ``python -m bench [--only NAME] [-- ARGS...]`` (``make bench ONLY=name``).

Every module ``bench/<name>.py`` that defines ``main(argv=None)`` is a benchmark. Each one runs in
its own subprocess (``python -m bench.<name>``), so peak-memory figures are per benchmark; its
output is streamed as it comes. Benchmarks print lines ``bench: <name>.<metric> <value>``; at the
end the runner repeats those metric lines as a summary. Exit status: non-zero if any benchmark
failed.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
METRIC_PREFIX = "bench: "


def discover() -> list[str]:
    """Names of the modules in bench/ that define a top-level ``main`` function (sorted)."""
    names = []
    for p in sorted(HERE.glob("*.py")):
        if p.name.startswith("_"):
            continue
        try:
            tree = ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
        except SyntaxError:
            continue
        if any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body):
            names.append(p.stem)
    return names


def _is_metric(line: str, name: str) -> bool:
    parts = line.strip().split()
    return (
        line.startswith(METRIC_PREFIX)
        and len(parts) >= 3
        and parts[1].startswith(f"{name}.")
        and _number(parts[2])
    )


def _number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def run(name: str, args: list[str]) -> tuple[int, list[str], float]:
    """Run one benchmark in a child process, streaming its output; (returncode, metrics, s)."""
    cmd = [sys.executable, "-u", "-m", f"bench.{name}", *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    print(f"== bench {name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    metrics: list[str] = []
    with subprocess.Popen(
        cmd, cwd=HERE.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, bufsize=1,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                if _is_metric(line, name):
                    metrics.append(line.rstrip("\n"))
        except KeyboardInterrupt:
            proc.terminate()
            raise
        rc = proc.wait()
    return rc, metrics, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--only", metavar="NAME", help="run only this benchmark (bench/NAME.py)")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("args", nargs=argparse.REMAINDER,
                    help="after '--': arguments passed to the benchmark(s)")  # fmt: skip
    ns = ap.parse_args(argv)
    extra = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    names = discover()
    if ns.list:
        print("\n".join(names))
        return 0
    if ns.only:
        if ns.only not in names:
            print(f"no benchmark {ns.only!r}; known: {', '.join(names) or '(none)'}",
                  file=sys.stderr)  # fmt: skip
            return 2
        names = [ns.only]
    if not names:
        print("no benchmarks found in bench/", file=sys.stderr)
        return 2
    summary: list[str] = []
    failed: list[str] = []
    for name in names:
        rc, metrics, seconds = run(name, extra)
        print(f"== bench {name}: exit {rc} in {seconds:.1f}s", flush=True)
        summary += metrics
        if rc != 0:
            failed.append(name)
    print("== summary")
    for line in summary:
        print(line)
    if failed:
        print(f"== failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
