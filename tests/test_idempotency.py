"""Writes that change nothing make no Delta version; one run at a time per home; scratch swept."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from corpusmill import lake
from corpusmill.home import HomeBusy, activate
from corpusmill.layout import Lake

FRAME = pl.DataFrame({"id": [1, 2, 3], "text": ["a", "b", None], "tags": [[1], [2, 3], []]})


def test_an_unchanged_overwrite_makes_no_version(tmp_path: Path) -> None:
    t = tmp_path / "t"
    assert lake.overwrite(t, FRAME) == 0
    assert lake.overwrite(t, FRAME) == 0
    assert lake.overwrite(t, FRAME.reverse()) == 0, "row order is not a change"
    assert lake.overwrite(t, FRAME.head(2)) == 1
    assert lake.read(t).height == 2
    assert lake.overwrite(t, FRAME) == 2, "going back to the first content is a change"
    assert lake.overwrite(t, FRAME.with_columns(pl.col("id").cast(pl.Int32))) == 3, "types count"
    assert lake.overwrite(t, FRAME.with_columns(pl.lit("x").alias("text"))) == 4
    assert lake.overwrite(t, FRAME.with_columns(pl.lit("x").alias("text")),
                          metadata={"m": "1"}) == 5, "metadata counts"  # fmt: skip
    assert len(lake.history(t)) == 6


def test_an_empty_table_rewritten_empty_makes_no_version(tmp_path: Path) -> None:
    t = tmp_path / "t"
    empty = pl.DataFrame(schema=FRAME.schema)
    assert lake.overwrite(t, empty) == 0
    assert lake.overwrite(t, empty) == 0


def test_the_run_stamp_alone_is_not_a_change(tmp_path: Path) -> None:
    t = tmp_path / "t"
    first = FRAME.with_columns(pl.lit("run-1").alias("_run_id"))
    lake.overwrite(t, first)
    assert lake.overwrite(t, FRAME.with_columns(pl.lit("run-2").alias("_run_id"))) == 0
    assert lake.read(t)["_run_id"].unique().to_list() == ["run-1"], "rows keep the first stamp"


def test_a_write_by_someone_else_since_is_noticed(tmp_path: Path) -> None:
    """The fingerprint is the latest commit's: an append by another writer means rewrite."""
    t = tmp_path / "t"
    lake.overwrite(t, FRAME)
    lake.replace_rows(t, FRAME.filter(pl.col("id") == 1).with_columns(pl.lit("z").alias("text")),
                      where={"id": "1"})  # fmt: skip
    assert lake.overwrite(t, FRAME) == 2
    assert lake.read(t).sort("id").equals(FRAME)


def test_fingerprint_ignores_order_not_content() -> None:
    assert lake.fingerprint(FRAME) == lake.fingerprint(FRAME.sample(fraction=1.0, shuffle=True, seed=3))
    assert lake.fingerprint(FRAME) != lake.fingerprint(FRAME.with_columns(pl.col("id") + 1))
    dup = pl.concat([FRAME, FRAME.head(1)])
    assert lake.fingerprint(dup) != lake.fingerprint(pl.concat([FRAME, FRAME.tail(1)]))


def test_a_second_run_on_a_held_home_is_refused(tmp_path: Path) -> None:
    home = activate(tmp_path / "home")
    with home.run_lock():
        with pytest.raises(HomeBusy, match=rf"another run holds this home \(corpusmill run, pid {os.getpid()}"):
            with home.run_lock():
                pass  # pragma: no cover
    with home.run_lock():  # released on exit
        pass


def test_a_killed_holder_leaves_the_home_free_and_its_scratch_is_swept(tmp_path: Path) -> None:
    home = activate(tmp_path / "home")
    code = (
        "import sys, time, tempfile, pathlib\n"
        "from corpusmill.home import resolve_home\n"
        f"h = resolve_home({str(home.root)!r})\n"
        "with h.run_lock():\n"
        "    pathlib.Path(tempfile.mkdtemp(prefix='corpusmill-ingest-'), 'part.parquet').write_text('x')\n"
        "    print(tempfile.gettempdir(), flush=True)\n"
        "    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == str(home.tmp), "temp files go to the home"
        with pytest.raises(HomeBusy, match=rf"pid {holder.pid}"):
            with home.run_lock():
                pass  # pragma: no cover
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert list(home.tmp.rglob("part.parquet")), "a killed run leaves its scratch behind"
        with home.run_lock():
            assert tempfile.gettempdir() == str(home.tmp)
            assert not list(home.tmp.iterdir()), "swept before the next run"
        assert not home.tmp.exists()
    finally:
        holder.kill()
        holder.wait(timeout=10)


@contextlib.contextmanager
def _held(home: Path, how: str) -> Iterator[subprocess.Popen]:
    """Another process holding ``home`` by ``how`` (run_lock or step_lock) for the block."""
    code = (
        "import time\n"
        "from corpusmill.home import resolve_home\n"
        f"with resolve_home({str(home)!r}).{how}():\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CORPUSMILL_RUN_LOCK_HOLDER"}
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        yield p
    finally:
        p.kill()
        p.wait(timeout=10)


def test_dagster_runs_share_the_home_but_not_with_a_cli_run(tmp_path: Path) -> None:
    home = activate(tmp_path / "home")
    with _held(home.root, "step_lock"):  # a step of a run launched from the UI
        with home.step_lock():  # other runs' steps go side by side
            pass
        with pytest.raises(HomeBusy, match=r"another run holds this home \(a Dagster run launched from the UI"):
            with home.run_lock():
                pass  # pragma: no cover
    with _held(home.root, "run_lock") as cli:
        with pytest.raises(HomeBusy, match=rf"\(corpusmill run, pid {cli.pid}, since "):
            with home.step_lock():
                pass  # pragma: no cover
    with home.run_lock():
        assert os.environ["CORPUSMILL_RUN_LOCK_HOLDER"] == str(home.root)
        with home.step_lock():  # the holder's own steps need no lock
            pass
    assert "CORPUSMILL_RUN_LOCK_HOLDER" not in os.environ


@pytest.mark.slow
def test_a_ui_run_on_a_home_held_by_corpusmill_run_is_refused(factory: Path, tmp_path: Path) -> None:
    """A real Dagster run of one ingest partition, started while another process runs
    ``corpusmill run`` on the home, fails its step with HomeBusy naming the holder and writes
    nothing; the same run after the holder is gone succeeds."""
    import dagster as dg

    from pipelines.definitions import build_definitions

    home = activate(tmp_path / "home")
    defs = build_definitions(factory / "sources.yaml", home)
    job = defs.resolve_implicit_global_asset_job_def()
    key = dg.AssetKey("staged_quality_inspections")
    with _held(home.root, "run_lock") as cli, dg.instance_for_test() as instance:
        res = job.execute_in_process(instance=instance, partition_key="quality_lab",
                                     asset_selection=[key], raise_on_error=False)  # fmt: skip
        assert not res.success
        (failure,) = [e for e in res.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE"]
        assert failure.step_key == "staged_quality_inspections"
        error = failure.event_specific_data.error
        assert error.cls_name == "HomeBusy" and f"corpusmill run, pid {cli.pid}" in error.message
        assert not Path(Lake(home.lake).staged("quality_lab")).exists(), "nothing written"
    with dg.instance_for_test() as instance:
        res = job.execute_in_process(instance=instance, partition_key="quality_lab",
                                     asset_selection=[key])  # fmt: skip
        assert res.success
    assert lake.read(Lake(home.lake).staged("quality_lab")).height > 0


@pytest.mark.slow
def test_two_cli_runs_on_one_home_at_once(factory: Path, tmp_path: Path) -> None:
    """The second `corpusmill run` on a busy home is refused with a clear message; the first
    completes and the staged rows are there once."""
    exe = Path(sys.executable).with_name("corpusmill")
    home = tmp_path / "home"
    cmd = [str(exe), "run", "--sources", str(factory / "sources.yaml"), "--home", str(home),
           "--no-summary"]  # fmt: skip
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lock = home / ".run.lock"
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out
    assert second.returncode == 3, second.stdout + second.stderr
    said = " ".join((second.stdout + second.stderr).split())  # the console wraps long lines
    assert "another run holds this home" in said
    assert f"pid {first.pid}" in said
    from corpusmill.ingest.ledger import conservation

    c = conservation(home / "lake", "modern_historian")
    assert c["units_in"] == c["rows_kept"] + c["rows_quarantined"] > 0
