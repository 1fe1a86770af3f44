"""The one Definitions of the corpusmill code location: the only module that gathers everything.

The asset graph follows the sources file: each canonical table that sources feed gets an ingest
asset partitioned by those sources. Which sources file is served: ``$CORPUSMILL_SOURCES``, else the
one the home was last run with (``corpusmill run``/``demo``; ``corpusmill dev`` generates the
sample factory first when the home has none). Loading writes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from assets.corpora import build_corpora_assets
from assets.ingest import build_ingest_assets
from assets.partition import build_partition_assets
from assets.resources import ComputeResource, CorpusmillResource
from assets.standardize import build_standardize_assets
from assets.validate import build_validate_assets
from corpusmill import config
from corpusmill.home import Home, point_env, resolve_home
from pipelines.jobs import build_executor, build_jobs
from pipelines.schedules import build_schedules
from pipelines.sensors import build_sensors

SAMPLE_DIR = "sample-factory"


class NoSourcesError(RuntimeError):
    """The home has no sources file to serve yet."""


def build_assets(cfg: config.SourcesConfig) -> list[dg.AssetsDefinition]:
    return [
        *build_ingest_assets(cfg),
        *build_standardize_assets(cfg),
        *build_validate_assets(cfg),
        *build_corpora_assets(cfg),
        *build_partition_assets(cfg),
    ]


def build_resources(sources: Path, home: Home, *, engine: str = "fast") -> dict[str, object]:
    return {
        "corpusmill": CorpusmillResource(home=str(home.root), sources=str(sources), engine=engine),
        "compute": ComputeResource(
            catalog=os.environ.get("CORPUSMILL_COMPUTE_CATALOG", ""),
            job=os.environ.get("CORPUSMILL_TRAINING_JOB", ""),
        ),
    }


def build_definitions(sources: str | Path, home: str | Path | Home) -> dg.Definitions:
    """The Definitions for one sources file and one home (nothing is written to either)."""
    home = resolve_home(home)
    sources = Path(sources).resolve()
    cfg = config.load(sources)
    assets = build_assets(cfg)
    jobs = build_jobs(assets)
    return dg.Definitions(
        assets=assets,
        resources=build_resources(sources, home),
        jobs=jobs.all(),
        schedules=build_schedules(jobs.ingest, cfg),
        sensors=build_sensors(cfg),
        executor=build_executor(),
    )


def served_sources(home: Home) -> Path:
    """The sources file this code location serves (see module docstring).

    Raises
    ------
    NoSourcesError
        Nothing to serve: no ``$CORPUSMILL_SOURCES`` and the home was never run.
    """
    env = os.environ.get("CORPUSMILL_SOURCES")
    if env:
        return Path(env)
    if home.sources_file and home.sources_file.exists():
        return home.sources_file
    msg = (
        f"the home {home.root} has no sources file to serve: run `corpusmill dev` (which "
        "generates the sample factory), `corpusmill demo`, or `corpusmill run --sources FILE`, "
        "or set CORPUSMILL_SOURCES"
    )
    raise NoSourcesError(msg)


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by Dagster when the code location starts, not on import (importing stays cheap)."""
    home = point_env(resolve_home())
    return build_definitions(served_sources(home), home)
