"""The compute catalog (accelerator pools) and the training job a shard plan is made for.

Both are small YAML files validated with pydantic: unknown keys are refused and every error names
the file, the pool (by name) and the field. Defaults ship in ``corpusmill/defaults/``.

Throughput unit
---------------
A pool's speed is ``tokens_per_s``: training tokens per second **per device**, measured for the
catalog's ``reference_model_class`` at ``reference_seq_len``. A pool may carry measurements for
other model classes in ``tokens_per_s_by_model``; the planner uses the job's model class when it
is measured there and otherwise falls back to the reference figure (and says so in the plan).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from corpusmill.settings import StrictModel as _Strict
from corpusmill.yamlfile import by_name, load_model, matching

POOL_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

#: Where the shipped defaults live.
DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"


class ComputeConfigError(ValueError):
    """A catalog or job file that cannot be used; the message names the file, pool and field."""


class Pool(_Strict):
    """A set of identical accelerators in one region, priced and measured."""

    name: str = Field(description="unique, lower-case: letters, digits, '_', '.', '-'")
    accelerator: str = Field(description="accelerator model, e.g. 'H100-80GB', 'MI300X', 'L4'")
    count: int = Field(gt=0, description="devices in the pool")
    memory_gib: float = Field(gt=0, description="memory per device, GiB")
    tokens_per_s: float = Field(
        gt=0,
        description="measured training tokens/s per device for the catalog's reference model "
        "class at the reference sequence length",
    )
    tokens_per_s_by_model: dict[str, float] = Field(
        default_factory=dict, description="measured tokens/s per device for other model classes"
    )
    region: str = Field(min_length=1)
    price_per_device_hour: float = Field(ge=0, description="USD per device-hour while held")
    availability: float = Field(
        gt=0, le=1, description="fraction of wall-clock time the pool is actually usable"
    )
    egress_price_per_gib: float = Field(
        0.0,
        ge=0,
        description="USD per GiB to bring corpus data from the data region to this pool; "
        "charged only when region != the catalog's data_region",
    )
    available_hours: float | None = Field(
        None,
        gt=0,
        description="wall-clock hours the pool can be held in the planning window; None = "
        "unlimited",
    )
    bandwidth_gbps: float | None = Field(
        None,
        gt=0,
        description="transfer bandwidth from the data region, Gbit/s; the copy's time counts "
        "against the deadline. None = transfer time not modelled",
    )

    _name = field_validator("name")(
        matching(POOL_NAME, "a pool name (lower-case letters, digits, '_', '.', '-')")
    )

    @field_validator("tokens_per_s_by_model")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: x for k, x in v.items() if not x > 0}
        if bad:
            msg = f"throughput must be > 0 tokens/s, got {bad}"
            raise ValueError(msg)
        return v

    def throughput(self, model_class: str) -> float:
        """Tokens/s per device for ``model_class`` (the reference figure when not measured)."""
        return self.tokens_per_s_by_model.get(model_class, self.tokens_per_s)

    def effective_rate(self, model_class: str) -> float:
        """Tokens per wall-clock second for the whole pool: count x throughput x availability."""
        return self.count * self.throughput(model_class) * self.availability

    def hourly_price(self) -> float:
        """USD per wall-clock hour for holding every device of the pool."""
        return self.count * self.price_per_device_hour


class Catalog(_Strict):
    """The pools a job may use and where its corpus lives."""

    data_region: str = Field(min_length=1, description="region holding the corpus")
    reference_model_class: str = Field(
        "decoder-1b", description="model class the pools' tokens_per_s were measured with"
    )
    reference_seq_len: int = Field(2048, gt=0, description="sequence length of that measurement")
    pools: list[Pool] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        seen: set[str] = set()
        for p in self.pools:
            if p.name in seen:
                msg = f"pool name {p.name!r} appears twice; pool names must be unique"
                raise ValueError(msg)
            seen.add(p.name)
        return self

    def pool(self, name: str) -> Pool:
        return by_name(self.pools, name, "pool")

    def without(self, *names: str) -> Catalog:
        """A copy without the named pools (e.g. to re-plan after losing one)."""
        for n in names:
            self.pool(n)
        return self.model_copy(update={"pools": [p for p in self.pools if p.name not in names]})


Objective = Literal["fastest", "cheapest_by_deadline", "fastest_within_budget"]


class TrainingJob(_Strict):
    """What is trained, on which corpus version, and under which limits.

    ``objective`` None keeps the rule-based planner (balance, egress rule, limits); any objective
    makes :func:`corpusmill.shards.plan_shards` take the pool shares from the linear programme in
    :mod:`corpusmill.shards.lp`.
    """

    name: str | None = Field(None, description="job name (required in a training_jobs file)")

    corpus: str = Field(min_length=1, description="corpus name, e.g. 'text_corpus'")
    version: int | None = Field(None, ge=0, description="corpus (Delta) version; None = latest")
    model_class: str = Field(min_length=1, description="e.g. 'decoder-1b'")
    seq_len: int = Field(gt=0, description="training sequence length, tokens")
    global_batch: int = Field(gt=0, description="samples per optimizer step, all pools together")
    epochs: float = Field(1.0, gt=0, description="passes over the corpus")
    deadline_hours: float | None = Field(None, gt=0, description="wall-clock limit")
    budget_usd: float | None = Field(None, gt=0, description="compute + egress limit, USD")
    target_shard_mib: float | None = Field(
        None, gt=0, description="upper bound on a shard's size; default 64 MiB (see corpusmill/shards/plan.py)"
    )
    objective: Objective | None = Field(
        None, description="fastest | cheapest_by_deadline | fastest_within_budget; None = rules"
    )
    pools: list[str] | None = Field(None, description="pools the job may use; None = all")
    min_memory_gib: float | None = Field(
        None, gt=0, description="device memory the model class needs, GiB; smaller pools excluded"
    )

    _name = field_validator("name")(
        matching(POOL_NAME, "a job name (lower-case letters, digits, '_', '.', '-')")
    )

    @model_validator(mode="after")
    def _objective_limits(self) -> TrainingJob:
        if self.objective == "cheapest_by_deadline" and self.deadline_hours is None:
            msg = "objective cheapest_by_deadline needs deadline_hours; set it or pick 'fastest'"
            raise ValueError(msg)
        if self.objective == "fastest_within_budget" and self.budget_usd is None:
            msg = "objective fastest_within_budget needs budget_usd; set it or pick 'fastest'"
            raise ValueError(msg)
        return self

    def check_pools(self, catalog: Catalog) -> None:
        """Raise :class:`ComputeConfigError` if ``pools`` names a pool ``catalog`` lacks."""
        known = {p.name for p in catalog.pools}
        missing = [n for n in self.pools or [] if n not in known]
        if missing:
            msg = (
                f"job {self.name or self.corpus!r}: pools {missing} are not in the catalog "
                f"(known: {sorted(known)}); fix the job's pools list"
            )
            raise ComputeConfigError(msg)


class TrainingJobs(_Strict):
    """A ``training_jobs:`` file: several named jobs planned together."""

    training_jobs: list[TrainingJob] = Field(min_length=1)

    @model_validator(mode="after")
    def _named_unique(self) -> TrainingJobs:
        seen: set[str] = set()
        for i, j in enumerate(self.training_jobs):
            if j.name is None:
                msg = f"training_jobs[{i}] has no name; every job in the file needs one"
                raise ValueError(msg)
            if j.name in seen:
                msg = f"job name {j.name!r} appears twice; job names must be unique"
                raise ValueError(msg)
            seen.add(j.name)
        return self

    def job(self, name: str) -> TrainingJob:
        return by_name(self.training_jobs, name, "job")


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate a compute catalog (the shipped default when ``path`` is None).

    Raises
    ------
    ComputeConfigError
        Missing file, bad YAML or a schema problem; names the file, the pool and the field.
    """
    path = Path(path) if path is not None else DEFAULTS_DIR / "compute.yaml"
    return load_model(path, Catalog, "compute catalog", ComputeConfigError, named="pools")


def load_job(path: str | Path | None = None) -> TrainingJob:
    """Load and validate a training job (the shipped default when ``path`` is None)."""
    path = Path(path) if path is not None else DEFAULTS_DIR / "training_job.yaml"
    return load_model(path, TrainingJob, "training job", ComputeConfigError, named="pools")


def load_jobs(
    path: str | Path | None = None, *, catalog: Catalog | None = None
) -> list[TrainingJob]:
    """Load a ``training_jobs:`` file (the shipped default when ``path`` is None).

    With ``catalog``, every job's ``pools`` list is checked against it.

    Raises
    ------
    ComputeConfigError
        Missing file, bad YAML, a schema problem (named by job and field), an objective without
        its limit, or a pool the catalog lacks.
    """
    path = Path(path) if path is not None else DEFAULTS_DIR / "training_jobs.yaml"
    jobs = load_model(path, TrainingJobs, "training jobs", ComputeConfigError, named="training_jobs")
    if catalog is not None:
        for j in jobs.training_jobs:
            j.check_pools(catalog)
    return list(jobs.training_jobs)
