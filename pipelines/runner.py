"""Materialize the whole graph for a sources file into a home: the path `run` and `demo` share.

Each ingest asset runs once over all its partitions (single-run backfill), then one run builds
everything after ingest. Runs go through the home's Dagster instance, so the UI (`make dev`) shows
them, their materializations and their checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from assets.selection import is_ingest
from corpusmill import config, preflight
from corpusmill.home import Home, activate

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class RunFailed(RuntimeError):
    """A run of the graph failed; the message names the step and the error."""


@dataclass
class RunReport:
    run_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0
    failed_checks: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def run_pipeline(
    sources: str | Path,
    home: str | Path | Home | None = None,
    *,
    engine: str = "fast",
    progress: Callable[[str], None] | None = None,
    quiet: bool = True,
) -> RunReport:
    """Materialize every asset for ``sources`` into ``home``.

    Raises
    ------
    corpusmill.config.ConfigError
        The sources file is invalid, or a source's path matches no file
        (:class:`corpusmill.preflight.PathError`); nothing is run.
    RunFailed
        A step failed; the message names it and carries its error.
    corpusmill.home.HomeBusy
        Another run holds the home; nothing is run.
    """

    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    h = activate(home)
    sources = Path(sources).resolve()
    cfg = config.load(sources)  # fail fast, before anything is written
    preflight.check_paths(cfg, path=sources)  # every source's path matches files (local ones)
    with h.run_lock():
        report = _run(sources, h, cfg, engine=engine, say=say, quiet=quiet)
    report.seconds = time.perf_counter() - t0
    return report


def _run(sources: Path, h: Home, cfg: config.SourcesConfig, *, engine: str,
         say: Callable[[str], None], quiet: bool) -> RunReport:  # fmt: skip
    from pipelines.definitions import build_assets, build_resources

    h.write_state(sources=str(sources))
    assets = build_assets(cfg)
    resources = build_resources(sources, h, engine=engine)
    instance = dg.DagsterInstance.get()
    report = RunReport()
    run_config = QUIET_LOGS if quiet else None

    for a in filter(is_ingest, assets):
        keys = a.partitions_def.get_partition_keys()
        say(f"ingest {a.key.to_user_string()} ({len(keys)} source(s): {', '.join(keys)})")
        tags = {
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
            "corpusmill/trigger": "corpusmill run",
        }
        result = dg.materialize(assets, selection=[a.key], instance=instance, resources=resources,
                                tags=tags, run_config=run_config, raise_on_error=False)  # fmt: skip
        _collect(result, report, a.key.to_user_string())
    rest = [a.key for a in assets if not is_ingest(a)]
    say(f"standardize, validate, corpora, partition ({len(rest)} assets)")
    result = dg.materialize(assets, selection=rest, instance=instance, resources=resources,
                            tags={"corpusmill/trigger": "corpusmill run"}, run_config=run_config,
                            raise_on_error=False)  # fmt: skip
    _collect(result, report, "build")
    return report


def _collect(result: dg.ExecuteInProcessResult, report: RunReport, what: str) -> None:
    report.run_ids.append(result.run_id)
    for ev in result.get_asset_check_evaluations():
        if not ev.passed:
            report.failed_checks.append(f"{ev.asset_key.to_user_string()}:{ev.check_name}")
    for ev in result.all_events:
        if ev.event_type_value == "STEP_SKIPPED":
            report.skipped.append(f"{ev.step_key or '?'}: not run (an upstream step failed)")
    for ev in result.get_asset_materialization_events():
        why = ev.materialization.metadata.get("skipped")
        if why is not None:  # an asset with nothing to build says why (e.g. no input rows)
            report.skipped.append(f"{ev.asset_key.to_user_string()}: {why.value}")
    if not result.success:
        failures = [
            f"{ev.step_key}: {_root_cause(ev.event_specific_data.error)}"
            for ev in result.all_events
            if ev.event_type_value == "STEP_FAILURE" and ev.event_specific_data is not None
        ]
        msg = f"run {result.run_id} ({what}) failed:\n" + "\n".join(failures or ["(no step error)"])
        raise RunFailed(msg)


def _root_cause(error) -> str:
    """The innermost error message (Dagster wraps the user's exception in its own)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip() if error is not None else "(unknown error)"
