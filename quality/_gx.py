"""The one place Great Expectations is imported: offline, quiet, and only when needed."""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

_lock = threading.Lock()


def gx_module() -> Any:
    """Import ``great_expectations`` with analytics off and progress bars silenced."""
    # Set before the import: GX reads it when its analytics client is configured.
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx

    return gx


def _quiet(context: Any) -> Any:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


@lru_cache(maxsize=1)
def ephemeral_context() -> Any:
    """One in-memory context per process (no files anywhere), reused by every GX run."""
    with _lock:
        gx = gx_module()
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
        )

        # No temporary docs site: nothing of the ephemeral context ever touches the disk.
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
        )
        return _quiet(gx.get_context(mode="ephemeral", project_config=config))


def file_context(root: Path) -> Any:
    """A file-backed context whose root (great_expectations.yml, stores, data docs) is ``root``."""
    gx = gx_module()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", context_root_dir=str(root))
    return _quiet(ctx)


def pandas_batch(pdf: Any) -> Any:
    """A GX batch over a pandas frame in the shared ephemeral context."""
    ctx = ephemeral_context()
    with _lock:
        try:
            ds = ctx.data_sources.get("corpusmill")
        except (KeyError, ValueError, LookupError):
            ds = ctx.data_sources.add_pandas("corpusmill")
        try:
            asset = ds.get_asset("frame")
        except (KeyError, ValueError, LookupError):
            asset = ds.add_dataframe_asset("frame")
        try:
            bd = asset.get_batch_definition("whole")
        except (KeyError, ValueError, LookupError):
            bd = asset.add_batch_definition_whole_dataframe("whole")
    return bd.get_batch(batch_parameters={"dataframe": pdf})
