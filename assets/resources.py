"""Resources: where the home is and which sources file the code location serves."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from pathlib import Path

import dagster as dg

from corpusmill import catalog, config
from corpusmill.home import Home, activate
from corpusmill.layout import Lake


class CorpusmillResource(dg.ConfigurableResource):
    """The home (Dagster instance, lake, catalog) and the sources file being served."""

    home: str
    sources: str
    engine: str = "fast"  # quality engine: fast (Polars) or gx (Great Expectations' pandas engine)

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
    """The compute catalog and training job the shard plan is made for (YAML files)."""

    catalog: str = ""  # empty: the packaged sample catalog
    job: str = ""  # empty: the packaged sample training job
