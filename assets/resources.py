"""Resources: where the home is and which sources file the code location serves."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Self

import dagster as dg

from corpusmill import catalog, compute, config
from corpusmill.home import Home, activate
from corpusmill.layout import Lake


class CorpusmillResource(dg.ConfigurableResource):
    """The home (Dagster instance, lake, catalog) and the sources file being served."""

    home: str
    sources: str
    engine: str = "fast"  # quality engine: fast (Polars) or gx (Great Expectations' pandas engine)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[Self]:
        """A run's step holds the home shared (:meth:`Home.step_lock`), so a UI run and a
        ``corpusmill run`` on one home do not interleave; a sensor's evaluation takes no lock."""
        if context.dagster_run is None:
            yield self
            return
        with self.home_dir.step_lock():
            yield self

    @cached_property
    def home_dir(self) -> Home:
        return activate(self.home)

    @cached_property
    def config(self) -> config.SourcesConfig:
        return config.load(self.sources)

    @property
    def lake(self) -> Path:
        return self.home_dir.lake

    @property
    def layout(self) -> Lake:
        return Lake(self.home_dir.lake)

    def refresh_catalog(self, views: Iterable[str]) -> None:
        """Rebuild the catalog views of the tables just written (see ``catalog.refresh``)."""
        catalog.refresh(self.home_dir, views)


class ComputeResource(dg.ConfigurableResource):
    """The compute catalog and the training jobs the shard plans are made for (YAML files)."""

    catalog: str = ""  # empty: the packaged sample catalog
    jobs: str = ""  # empty: the packaged sample training_jobs file

    def load(self, job: str | None = None) -> tuple[compute.Catalog, list[compute.TrainingJob]]:
        """The catalog and every job, checked against it; ``job``, when given, must be one."""
        cat = compute.load_catalog(self.catalog or None)
        jobs = compute.load_jobs(self.jobs or None, catalog=cat)
        if job is not None and job not in {j.name for j in jobs}:
            msg = (
                f"training job {job!r} is not in {self.jobs or 'the default training_jobs file'} "
                f"(jobs: {', '.join(j.name or j.corpus for j in jobs)}); the definitions were "
                "built from another jobs file: reload the code location"
            )
            raise compute.ComputeConfigError(msg)
        return cat, jobs
