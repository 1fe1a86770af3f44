"""The coverage-guided fuzzer of every reader and the sources loader (``tests/fuzz_atheris.py``)
runs a fixed number of inputs from a fixed seed, in its own process as libFuzzer wants, and
breaks no promise: no crash file, exit 0, and every target both read its seed and refused some
mutated input with the typed error."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzzing import targets

REPO = Path(__file__).resolve().parents[1]
RUNS = 20_000  # about 40 s here; `python -m tests.fuzz_atheris -max_total_time=600` for longer

pytestmark = pytest.mark.slow


def test_atheris_finds_no_broken_promise(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz_atheris", f"-runs={RUNS}", "-seed=1", "-timeout=60",
         "-rss_limit_mb=4096", f"-artifact_prefix={tmp_path}/"],
        cwd=REPO, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert not list(tmp_path.glob("crash-*")) and f"Done {RUNS} runs" in out, out[-3000:]
    last = [line for line in proc.stdout.splitlines() if line.startswith("fuzz: ")][-1]
    outcomes: dict[str, int] = ast.literal_eval(last.split("outcomes ", 1)[1])
    for t in targets():
        seen = {k.split(":", 1)[1] for k in outcomes if k.split(":", 1)[0] == t.name}
        assert "error" in seen and len(seen) == 2, (t.name, seen)
