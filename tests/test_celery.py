"""Steps on Celery workers: two days of a split historian ingested by two workers in parallel.

A module fixture starts Debian's ``redis-server`` (installed by scripts/test-deps.sh) on 127.0.0.1
and a free port, as the broker and result backend. Two workers start with the project's own
worker settings (``dagster-celery worker start -y deploy/celery/worker.yaml``), one step at a time
each. Two runs, one per day, are launched with ``CORPUSMILL_EXECUTOR=celery``; each worker holds
its step until the other has one too (a Celery ``task_prerun`` hook in a module the test gives the
workers), so the two steps provably ran at the same time on different workers. The test then
checks the rows in the lake against the ground truth and the worker names in the event log.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from corpusmill import lake
from corpusmill.layout import Lake
from pipelines.jobs import CELERY_CONFIG

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("celery")]

REPO = Path(__file__).resolve().parents[1]
WORKER_YAML = REPO / "deploy" / "celery" / "worker.yaml"
_STEERING = ("DAGSTER_HOME", "CORPUSMILL_HOME", "CORPUSMILL_SOURCES", "CORPUSMILL_EXECUTOR",
             "PYTHONPATH")  # fmt: skip

#: Given to the workers (``-i``): each worker's first step waits until both workers hold one.
BARRIER = """\
import os, socket, time
from pathlib import Path

from celery.signals import task_prerun

_FOLDER = Path(os.environ["CORPUSMILL_TEST_BARRIER"])


@task_prerun.connect
def _together(task=None, **_kw):
    me = _FOLDER / f"{task.request.hostname}.{os.getpid()}"
    me.touch()
    for _ in range(3000):  # 300 s at most, then the step runs anyway (and the test fails)
        if len(list(_FOLDER.iterdir())) >= 2:
            return
        time.sleep(0.1)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A running Redis server on loopback; yields its URL (database 0)."""
    import redis

    server = shutil.which("redis-server")
    assert server, "redis-server is not installed: run scripts/test-deps.sh (Debian redis-server)"
    root = Path(tempfile.mkdtemp(prefix="corpusmill-redis-"))
    port = _free_port()
    proc = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(200):
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.05)
        assert client.ping()
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def _stop(proc: subprocess.Popen) -> None:
    """End a worker: its own process group (the celery process and its pool)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def _wait(runs: list[subprocess.Popen], workers: list[subprocess.Popen]) -> bool:
    """Whether all runs ended; ``False`` (the runs are ended) if a worker exits first, since a
    run then waits for its step forever. Bounded: 15 minutes."""
    for _ in range(900):
        if all(p.poll() is not None for p in runs):
            return True
        if any(w.poll() is not None for w in workers):
            break
        time.sleep(1)
    for p in runs:
        p.kill()
        p.wait()
    return False


def test_the_worker_settings_are_the_executors() -> None:
    assert yaml.safe_load(WORKER_YAML.read_text())["execution"]["config"] == CELERY_CONFIG


def test_two_workers_ingest_two_days_in_parallel(redis_url: str, tmp_path: Path) -> None:
    from corpusmill.home import activate
    from tests.test_partitions_multi import DAYS, _day_truth, _historian, _rows_by_file

    yml, truth = _historian(tmp_path, rows=200)
    home = activate(tmp_path / "home")
    dg.DagsterInstance.from_config(str(home.dagster)).get_runs()  # storage created once, up front
    barrier, hooks = tmp_path / "barrier", tmp_path / "hooks"
    barrier.mkdir()
    hooks.mkdir()
    (hooks / "corpusmill_test_barrier.py").write_text(BARRIER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in _STEERING}
    env.update(CORPUSMILL_HOME=str(home.root), CORPUSMILL_SOURCES=str(yml),
               DAGSTER_HOME=str(home.dagster), CORPUSMILL_EXECUTOR="celery",
               CORPUSMILL_CELERY_BROKER=f"{redis_url}/0",
               CORPUSMILL_CELERY_BACKEND=f"{redis_url}/1",
               CORPUSMILL_TEST_BARRIER=str(barrier), PYTHONPATH=f"{REPO}{os.pathsep}{hooks}")  # fmt: skip
    bindir = Path(sys.executable).parent
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"  # dagster-celery starts `celery`
    logs = [tmp_path / f"worker{i}.log" for i in (1, 2)]
    workers = [
        subprocess.Popen([str(bindir / "dagster-celery"), "worker", "start", "-A",
                          "dagster_celery.app", "-y", str(WORKER_YAML), "-n", f"worker{i}",
                          "-i", "corpusmill_test_barrier", "--", "--concurrency=1"],
                         stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=REPO,
                         start_new_session=True)
        for i, log in zip((1, 2), logs, strict=True)
    ]  # fmt: skip
    try:
        run_logs = [tmp_path / f"run-{day}.log" for day in DAYS[:2]]
        runs = [
            subprocess.Popen([str(bindir / "dagster"), "asset", "materialize", "-m",
                              "pipelines.definitions", "--select", "staged_sensor_readings",
                              "--partition", f"{day}|hist"],
                             stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=REPO)
            for day, log in zip(DAYS[:2], run_logs, strict=True)
        ]  # fmt: skip
        ended = _wait(runs, workers)
        outs = [log.read_text(errors="replace") for log in run_logs] if ended else None
    finally:
        for w in workers:
            _stop(w)
    worker_logs = "\n".join(log.read_text(errors="replace")[-2000:] for log in logs)
    assert outs is not None, "a worker exited while the runs waited:\n" + worker_logs
    for p, out in zip(runs, outs, strict=True):
        assert p.returncode == 0, out[-3000:] + "\n--- workers ---\n" + worker_logs

    # both days in the lake, exactly the ground truth; the third day and the other source not run
    assert _rows_by_file(home.lake) == _day_truth(truth, *DAYS[:2])
    assert not lake.exists(Lake(home.lake).staged("other"))

    instance = dg.DagsterInstance.from_config(str(home.dagster))
    records = instance.get_runs()
    assert sorted(r.tags["dagster/partition"] for r in records) == [f"{d}|hist" for d in DAYS[:2]]
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in records)
    ran_on = {}
    for run in records:
        for e in instance.all_logs(run.run_id):
            ev = e.dagster_event
            if ev is not None and ev.event_type_value == "ENGINE_EVENT":
                meta = ev.event_specific_data.metadata
                if "Celery worker" in meta:
                    ran_on[run.tags["dagster/partition"]] = meta["Celery worker"].value
    host = socket.gethostname()
    assert sorted(ran_on.values()) == [f"worker1@{host}", f"worker2@{host}"], ran_on
    assert len(list(barrier.iterdir())) == 2  # each worker's step waited for the other's
