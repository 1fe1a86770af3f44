"""The corpusmill home: one folder that holds the Dagster instance, the lake and the catalog.

Nothing is written outside it: Dagster's instance lives in ``<home>/dagster``, Great Expectations
writes under ``<home>/gx``, and the environment variables that steer third-party libraries away
from the user's home directory are set by :func:`point_env` (which :func:`activate` calls).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".corpusmill"

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
    root: Path

    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def gx(self) -> Path:
        return self.root / "gx"

    @property
    def shards(self) -> Path:
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


def resolve_home(home: str | os.PathLike[str] | Home | None = None) -> Home:
    """``home`` if given, else ``$CORPUSMILL_HOME``, else ``./.corpusmill``; made absolute."""
    if isinstance(home, Home):
        return home
    raw = home or os.environ.get("CORPUSMILL_HOME") or DEFAULT_HOME
    return Home(Path(raw).expanduser().resolve())


def activate(home: str | os.PathLike[str] | Home | None = None) -> Home:
    """Create the home's folders and its ``dagster.yaml``, and point Dagster at it.

    A ``dagster.yaml`` that does not start with :data:`MANAGED_MARK` is the operator's own (a
    production instance on PostgreSQL, say) and is kept as it is.

    Idempotent: safe to call on every command and in every process. Code that must not write
    (loading the code location) uses :func:`point_env` instead.
    """
    h = resolve_home(home)
    for d in (h.root, h.dagster, h.lake, h.gx, h.shards):
        d.mkdir(parents=True, exist_ok=True)
    dagster_yaml = h.dagster / "dagster.yaml"
    content = _DAGSTER_YAML.format(storage=h.dagster / "storage", artifacts=h.dagster)
    current = dagster_yaml.read_text(encoding="utf-8") if dagster_yaml.exists() else None
    if current is None or (current.startswith(MANAGED_MARK) and current != content):
        dagster_yaml.write_text(content, encoding="utf-8")
    return point_env(h)


def point_env(home: Home) -> Home:
    """Point Dagster and Great Expectations at the home (environment variables only; writes
    nothing), so neither falls back to the user's home directory."""
    os.environ["CORPUSMILL_HOME"] = str(home.root)
    os.environ["DAGSTER_HOME"] = str(home.dagster)
    os.environ["DAGSTER_DISABLE_TELEMETRY"] = "true"
    os.environ.setdefault("GX_HOME", str(home.gx))
    return home
