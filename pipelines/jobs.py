"""Jobs: one per ingest asset (its partitions are its sources) and one for everything after; and
the executor the code location's runs use (``$CORPUSMILL_EXECUTOR``, see docs/operations.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import dagster as dg

from assets.selection import after_ingest_selection, is_ingest


@dataclass(frozen=True)
class Jobs:
    ingest: list[dg.UnresolvedAssetJobDefinition]  # one per ingest asset
    build: dg.UnresolvedAssetJobDefinition  # standardize, validate, corpora, partition

    def all(self) -> list[dg.UnresolvedAssetJobDefinition]:
        return [*self.ingest, self.build]


def build_jobs(assets: list[dg.AssetsDefinition]) -> Jobs:
    ingest = [
        dg.define_asset_job(
            f"ingest_{a.key.path[-1].removeprefix('staged_')}",
            selection=dg.AssetSelection.assets(a),
            # explicit, so the nightly schedule can list the sources (partitions) of the job
            partitions_def=a.partitions_def,
            description=f"Ingest the new and changed files of the sources feeding {a.key.path[-1]}.",
        )
        for a in assets
        if is_ingest(a)
    ]
    build = dg.define_asset_job(
        "build_corpora",
        selection=after_ingest_selection(),
        description="Standardize, validate, build the corpora and plan the shards.",
    )
    return Jobs(ingest, build)


#: Selects the executor of the code location's runs (see :func:`build_executor`).
EXECUTOR_ENV = "CORPUSMILL_EXECUTOR"
EXECUTORS = ("multiprocess", "in_process", "celery", "k8s")

#: The Celery executor's settings; the workers start with the same block
#: (``dagster-celery worker start -y deploy/celery/worker.yaml``). Late acks with a prefetch of one:
#: a busy worker holds no second step, so an idle worker takes it.
CELERY_CONFIG: dict[str, Any] = {
    "broker": {"env": "CORPUSMILL_CELERY_BROKER"},
    "backend": {"env": "CORPUSMILL_CELERY_BACKEND"},
    "config_source": {"task_acks_late": True, "worker_prefetch_multiplier": 1},
}


def build_executor(name: str | None = None) -> dg.ExecutorDefinition | None:
    """The executor named by ``name`` or ``$CORPUSMILL_EXECUTOR``.

    ``multiprocess`` (the default: ``None``, Dagster's own default, each step in a subprocess),
    ``in_process``, ``celery`` (steps on Celery workers, broker and result backend from
    ``$CORPUSMILL_CELERY_BROKER`` / ``$CORPUSMILL_CELERY_BACKEND``) or ``k8s`` (each step a
    Kubernetes Job; its settings come from the K8sRunLauncher of the instance, see deploy/).
    """
    name = name or os.environ.get(EXECUTOR_ENV) or "multiprocess"
    if name == "multiprocess":
        return None
    if name == "in_process":
        return dg.in_process_executor
    if name == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(CELERY_CONFIG, name="celery")
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    msg = f"{EXECUTOR_ENV}={name!r}: not an executor; use one of {', '.join(EXECUTORS)}"
    raise ValueError(msg)
