"""Materialize the whole graph for a sources file into a home: the path `run` and `demo` share.

Each ingest asset runs once over all its partitions (single-run backfill), then one run builds
everything after ingest up to the corpora, then one run per training job plans its shards (the
shard plan's partitions are the jobs). Runs go through the home's Dagster instance, so the UI (`make dev`) shows
them, their materializations and their checks.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from assets.partitions import sources_of
from assets.selection import SHARD_PLAN_KEY, is_ingest
from corpusmill import config, preflight
from corpusmill.home import Home, activate

#: The console shows nothing while a run goes (a failed step's stack trace stays in the run's log);
#: warnings and failures are read back from the run's log and printed one line each.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class RunFailed(RuntimeError):
    """A run of the graph failed; the message names the step and the error.

    ``lines`` holds one line per failed step (asset, partition, the error naming file/row and the
    fix); ``run_id`` is the Dagster run whose log keeps the stack traces.
    """

    def __init__(self, msg: str, *, run_id: str = "", lines: list[str] | None = None) -> None:
        super().__init__(msg)
        self.run_id = run_id
        self.lines = lines or []


@dataclass
class RunReport:
    run_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0
    failed_checks: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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
        names = sources_of(a.partitions_def)
        split = f", {len(keys)} partitions" if len(keys) != len(names) else ""
        say(f"ingest {a.key.to_user_string()} ({len(names)} source(s): {', '.join(names)}{split})")
        tags = {
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
            "corpusmill/trigger": "corpusmill run",
        }
        result = dg.materialize(assets, selection=[a.key], instance=instance, resources=resources,
                                tags=tags, run_config=run_config, raise_on_error=False)  # fmt: skip
        _collect(result, report, a.key.to_user_string())
    plans = [a for a in assets if a.key == SHARD_PLAN_KEY]
    rest = [a.key for a in assets if not is_ingest(a) and a.key != SHARD_PLAN_KEY]
    say(f"standardize, validate, corpora ({len(rest)} assets)")
    result = dg.materialize(assets, selection=rest, instance=instance, resources=resources,
                            tags={"corpusmill/trigger": "corpusmill run"}, run_config=run_config,
                            raise_on_error=False)  # fmt: skip
    _collect(result, report, "build")
    for a in plans:  # one run per partition: each job's plan is its own materialization
        keys = a.partitions_def.get_partition_keys()
        say(f"partition: shard plans for {len(keys)} training job(s): {', '.join(keys)}")
        for job in keys:
            result = dg.materialize(assets, selection=[a.key], partition_key=job,
                                    instance=instance, resources=resources,
                                    tags={"corpusmill/trigger": "corpusmill run"},
                                    run_config=run_config, raise_on_error=False)  # fmt: skip
            _collect(result, report, f"shard_plan[{job}]")
    return report


def _collect(result: dg.ExecuteInProcessResult, report: RunReport, what: str) -> None:
    report.run_ids.append(result.run_id)
    for entry in dg.DagsterInstance.get().all_logs(result.run_id):
        if entry.dagster_event is None and entry.level == logging.WARNING:
            report.warnings.append(f"{entry.step_key or what}: {entry.user_message}")
    for ev in result.get_asset_check_evaluations():
        if not ev.passed:
            report.failed_checks.append(f"{ev.asset_key.to_user_string()}:{ev.check_name}")
    for ev in result.all_events:
        if ev.event_type_value == "STEP_SKIPPED":
            report.skipped.append(f"{ev.step_key or '?'}: not run (an upstream step failed)")
    for ev in result.get_asset_materialization_events():
        why = ev.materialization.metadata.get("skipped")
        if why is not None:  # an asset with nothing to build says why (e.g. no input rows)
            part = f"[{ev.partition}]" if ev.partition else ""
            report.skipped.append(f"{ev.asset_key.to_user_string()}{part}: {why.value}")
    if not result.success:
        lines = failure_lines(result)
        msg = f"run {result.run_id} ({what}) failed:\n" + "\n".join(lines or ["(no step error)"])
        raise RunFailed(msg, run_id=result.run_id, lines=lines)


def failure_lines(result: dg.ExecuteInProcessResult) -> list[str]:
    """One line per failed step: ``<asset> [partition <p>]: <innermost error>``.

    The error messages of corpusmill name the file, the row and the fix; the partition comes from
    the failure's metadata (ingest names its source) or else the run's partition tags.
    """
    tags = result.dagster_run.tags
    lo, hi = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    run_part = tags.get("dagster/partition") or (f"{lo}..{hi}" if lo and lo != hi else lo)
    lines = []
    for ev in result.all_events:
        if ev.event_type_value != "STEP_FAILURE" or ev.event_specific_data is None:
            continue
        data = ev.event_specific_data
        meta = data.user_failure_data.metadata if data.user_failure_data is not None else {}
        part = meta["partition"].value if "partition" in meta else run_part
        where = f" [partition {part}]" if part else ""
        msg = one_line(_root_cause(data.error))
        lines.append(f"{ev.step_key}{where}: {msg}")
    return lines


#: A module path before an exception's class name, as Python prints it (`package.module.`).
_MODULE_PATH = r"(?:[A-Za-z_]\w*\.)*"


def one_line(message: str) -> str:
    """An error message on one line. A message that carries a Python traceback (an exception
    raised inside a reader that Arrow or Delta re-raised as text) is cut to its last line, the
    original error, without its module path."""
    if "Traceback (most recent call last)" in message:
        last = [ln for ln in message.splitlines() if ln.strip()][-1]
        message = re.sub(rf"^{_MODULE_PATH}[A-Za-z_]\w*(?:Error|Exception): ", "", last.strip())
    return " ".join(message.split())


def _root_cause(error) -> str:
    """The innermost error message (Dagster wraps the user's exception in its own)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    if error is None:
        return "(unknown error)"
    message = error.message.strip()
    # Dagster formats the message as Python prints an exception: `package.module.Class: text`.
    cls = re.escape(getattr(error, "cls_name", None) or "")
    return re.sub(rf"^{_MODULE_PATH}{cls}: ", "", message) if cls else message
