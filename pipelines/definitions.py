"""The one Definitions of the corpusmill code location.

The asset graph follows the sources file: each canonical table that sources feed gets an ingest
asset partitioned by those sources. Which sources file is served: ``$CORPUSMILL_SOURCES``, else the
one the home was last run with (``corpusmill run``), else the embedded sample factory, generated
into the home on first load.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from assets.corpora import build_corpora_assets
from assets.ingest import build_ingest_assets
from assets.partition import build_partition_assets
from assets.standardize import build_standardize_assets
from assets.validate import build_validate_assets
from corpusmill import config
from corpusmill.home import Home, activate
from pipelines.jobs import build_jobs
from pipelines.resources import ComputeResource, CorpusmillResource
from pipelines.schedules import build_schedules
from pipelines.sensors import build_sensors

SAMPLE_DIR = "sample-factory"


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


def build_definitions(sources: str | Path, home: str | Path | Home | None = None) -> dg.Definitions:
    """The Definitions for one sources file and one home."""
    h = activate(home)
    sources = Path(sources).resolve()
    cfg = config.load(sources)
    ingest_assets = build_ingest_assets(cfg)
    jobs = build_jobs(ingest_assets)
    return dg.Definitions(
        assets=build_assets(cfg),
        resources=build_resources(sources, h),
        jobs=jobs,
        schedules=build_schedules([j for j in jobs if j.name.startswith("ingest_")]),
        sensors=build_sensors(cfg),
    )


def served_sources(home: Home) -> Path:
    """The sources file this code location serves (see module docstring)."""
    env = os.environ.get("CORPUSMILL_SOURCES")
    if env:
        return Path(env)
    if home.sources_file and home.sources_file.exists():
        return home.sources_file
    sample = home.root / SAMPLE_DIR / "sources.yaml"
    if not sample.exists():
        import shutil
        import tempfile

        from corpusmill.generate import generate

        # generate beside the target and rename: concurrent loaders never see half a factory
        tmp = Path(tempfile.mkdtemp(prefix=".sample-", dir=home.root))
        generate(tmp, scale=1, seed=0)
        try:
            tmp.rename(sample.parent)
        except OSError:  # another process got there first
            shutil.rmtree(tmp, ignore_errors=True)
    return sample


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by Dagster when the code location starts, not on import (importing stays cheap)."""
    home = activate(None)
    return build_definitions(served_sources(home), home)
