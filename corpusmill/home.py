"""The corpusmill home: one folder that holds the Dagster instance, the lake and the catalog.

Nothing is written outside it: Dagster's instance lives in ``<home>/dagster``, Great Expectations
writes under ``<home>/gx``, and the environment variables that steer third-party libraries away
from the user's home directory are set by :func:`point_env` (which :func:`activate` calls).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from corpusmill import storage
from corpusmill.storage import Where

DEFAULT_HOME = ".corpusmill"
#: Set by the holder of a home's run lock (to the home's path) for its own processes.
LOCK_HOLDER_ENV = "CORPUSMILL_RUN_LOCK_HOLDER"

#: The first line of a dagster.yaml corpusmill wrote (and may rewrite); any other file is the
#: operator's (e.g. PostgreSQL storage, see docs/operations.md) and is left alone.
MANAGED_MARK = "# Written by corpusmill."
_DAGSTER_YAML = """\
# Written by corpusmill. The local, embedded default: SQLite storage in this folder.
telemetry:
  enabled: false
storage:
  sqlite:
    base_dir: {storage}
local_artifact_storage:
  module: dagster._core.storage.root
  class: LocalArtifactStorage
  config:
    base_dir: {artifacts}
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
"""


@dataclass(frozen=True)
class Home:
    """A home folder; ``lake_at`` puts its lake elsewhere (a folder or ``s3://bucket/prefix``).

    :func:`resolve_home` takes ``lake_at`` from ``$CORPUSMILL_LAKE``, so every process of a run
    (and every later command) finds the same lake; a ``Home`` keeps the lake it was made with.
    """

    root: Path
    lake_at: str | None = None

    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    @property
    def lake(self) -> Where:
        """``<home>/lake``, or the :attr:`lake_at` location (a local lake is a :class:`Path`, one
        on object storage a URI string)."""
        if not self.lake_at:
            return self.root / "lake"
        if storage.is_remote(self.lake_at):
            return storage.normalize(self.lake_at)
        return Path(self.lake_at).expanduser().resolve()

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def gx(self) -> Path:
        return self.root / "gx"

    @property
    def shards(self) -> Where:
        """Where shard files go: ``<home>/shards``, or ``<lake>/_shards`` for a lake on object
        storage (so trainers read them from the bucket)."""
        if storage.is_remote(self.lake):
            return storage.join(self.lake, "_shards")
        return self.root / "shards"

    @property
    def state_file(self) -> Path:
        return self.root / "corpusmill.json"

    # -- state: which sources file this home was last run with -------------------------------

    def read_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def write_state(self, **updates: object) -> None:
        state = self.read_state() | updates
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.state_file)

    @property
    def sources_file(self) -> Path | None:
        path = self.read_state().get("sources")
        return Path(path) if path else None

    # -- one run at a time, and its scratch space ---------------------------------------------

    @property
    def lock_file(self) -> Path:
        return self.root / ".run.lock"

    @property
    def tmp(self) -> Path:
        """Scratch space of the run holding the lock; emptied when a run starts and ends."""
        return self.root / "tmp"

    def _lock_fd(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        return os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)

    def _busy(self, fd: int) -> HomeBusy:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        holder = holder or "a Dagster run launched from the UI, a schedule or a sensor"
        msg = (
            f"{self.root}: another run holds this home ({holder}); wait for it to finish, or use "
            "another --home"
        )
        return HomeBusy(msg)

    @contextlib.contextmanager
    def run_lock(self, what: str = "corpusmill run") -> Iterator[None]:
        """Hold the home for one run: a second run on the same home is refused, not interleaved.

        The lock is an ``flock`` on ``<home>/.run.lock``, so the kernel drops it when the holder
        dies (even by SIGKILL) and a crashed run never leaves the home locked. While it is held,
        temporary files go to :attr:`tmp`; what a killed run left there is removed first.

        Raises
        ------
        HomeBusy
            Another process holds the home; the message names its pid and start time.
        """
        fd = self._lock_fd()
        saved = os.environ.get(LOCK_HOLDER_ENV)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._busy(fd) from None
            stamp = f"{what}, pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
            os.ftruncate(fd, 0)
            os.pwrite(fd, stamp.encode(), 0)
            os.environ[LOCK_HOLDER_ENV] = str(self.root)  # this run's own steps share the lock
            try:
                with _scratch(self.tmp):
                    yield
            finally:
                os.ftruncate(fd, 0)  # the stamp names a holder only while there is one
        finally:
            if saved is None:
                os.environ.pop(LOCK_HOLDER_ENV, None)
            else:
                os.environ[LOCK_HOLDER_ENV] = saved
            os.close(fd)  # closing drops the flock

    @contextlib.contextmanager
    def step_lock(self) -> Iterator[None]:
        """Hold the home shared for one step of a Dagster run launched outside :meth:`run_lock`
        (the UI, a schedule, a sensor): such steps run side by side, but not beside a
        ``corpusmill run`` on the same home; whichever comes second is refused with
        :class:`HomeBusy`. A step of the run that holds :meth:`run_lock` (its processes carry
        ``$CORPUSMILL_RUN_LOCK_HOLDER``) needs no lock."""
        if os.environ.get(LOCK_HOLDER_ENV) == str(self.root):
            yield
            return
        fd = self._lock_fd()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._busy(fd) from None
            yield
        finally:
            os.close(fd)


class HomeBusy(RuntimeError):
    """Another run holds the home."""


@contextlib.contextmanager
def _scratch(folder: Path) -> Iterator[None]:
    """Send ``tempfile`` (this process and its children) to an emptied ``folder``; empty it after."""
    shutil.rmtree(folder, ignore_errors=True)  # what a killed run left behind
    folder.mkdir(parents=True)
    saved_env, saved_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(folder), str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = saved_dir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(folder, ignore_errors=True)


def resolve_home(home: str | os.PathLike[str] | Home | None = None) -> Home:
    """``home`` if given, else ``$CORPUSMILL_HOME``, else ``./.corpusmill``; made absolute.

    Its lake is ``$CORPUSMILL_LAKE`` when that is set (see :attr:`Home.lake`).
    """
    if isinstance(home, Home):
        return home
    raw = home or os.environ.get("CORPUSMILL_HOME") or DEFAULT_HOME
    lake_at = os.environ.get(storage.LAKE_ENV) or None
    if lake_at is not None:
        storage.normalize(lake_at)  # an unsupported scheme or a missing bucket fails here
    return Home(Path(raw).expanduser().resolve(), lake_at)


def activate(home: str | os.PathLike[str] | Home | None = None) -> Home:
    """Create the home's folders and its ``dagster.yaml``, and point Dagster at it.

    A ``dagster.yaml`` that does not start with :data:`MANAGED_MARK` is the operator's own (a
    production instance on PostgreSQL, say) and is kept as it is.

    Idempotent: safe to call on every command and in every process. Code that must not write
    (loading the code location) uses :func:`point_env` instead.
    """
    h = resolve_home(home)
    for d in (h.root, h.dagster, h.lake, h.gx, h.shards):
        storage.make_dirs(d)
    dagster_yaml = h.dagster / "dagster.yaml"
    content = _DAGSTER_YAML.format(storage=h.dagster / "storage", artifacts=h.dagster)
    current = dagster_yaml.read_text(encoding="utf-8") if dagster_yaml.exists() else None
    if current is None or (current.startswith(MANAGED_MARK) and current != content):
        dagster_yaml.write_text(content, encoding="utf-8")
    return point_env(h)


def point_env(home: Home) -> Home:
    """Point Dagster and Great Expectations at the home (environment variables only; writes
    nothing), so neither falls back to the user's home directory; ``$CORPUSMILL_LAKE`` is set
    to the home's lake location (removed for a home whose lake is ``<home>/lake``)."""
    os.environ["CORPUSMILL_HOME"] = str(home.root)
    if home.lake_at:  # so the code location (and any child process) finds the same lake
        os.environ[storage.LAKE_ENV] = home.lake_at
    else:
        os.environ.pop(storage.LAKE_ENV, None)
    os.environ["DAGSTER_HOME"] = str(home.dagster)
    os.environ["DAGSTER_DISABLE_TELEMETRY"] = "true"
    os.environ.setdefault("GX_HOME", str(home.gx))
    return home
