"""Shared fixtures: a generated sample factory and a home with the whole graph materialized."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Nothing a test runs may write to the user's home directory or phone home.
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["DAGSTER_DISABLE_TELEMETRY"] = "true"

REPO = Path(__file__).resolve().parents[1]
REAL_SOURCES = REPO / "examples" / "real-datasets" / "sources.yaml"


@pytest.fixture(scope="session")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample factory at scale 1, seed 0, with its sources.yaml and ground_truth.json."""
    from corpusmill.generate import generate

    out = tmp_path_factory.mktemp("factory")
    generate(out, scale=1, seed=0)
    return out


@pytest.fixture(scope="session")
def ground_truth(factory: Path) -> dict:
    return json.loads((factory / "ground_truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def built(factory: Path, tmp_path_factory: pytest.TempPathFactory):
    """The whole graph materialized in-process into a fresh home: (home, report)."""
    from corpusmill.home import activate
    from pipelines.runner import run_pipeline

    home = activate(tmp_path_factory.mktemp("home"))
    report = run_pipeline(factory / "sources.yaml", home)
    return home, report
