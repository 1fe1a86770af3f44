"""Validation reports: GX-shaped JSON results and GX Data Docs, all inside one folder.

``write_results`` is cheap (plain JSON, no GX import); ``build_data_docs`` opens a file-backed GX
context rooted in that folder, loads every result not yet in its validations store and runs GX's
own Data Docs site builder. Nothing is written outside ``gx_dir``.

Layout of ``gx_dir``::

    results/<asset>/<run_id>/<suite>__<source>.json   one per suite run (GX validation result)
    results/<asset>/<run_id>/summary.json             counts and per-expectation summary
    great_expectations.yml, expectations/, ...        the GX file context
    uncommitted/validations/...                       GX's validations store
    uncommitted/data_docs/local_site/index.html       the Data Docs site
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quality.engine import TableValidation

_INGESTED = ".ingested"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "_"


def write_results(gx_dir: Path, asset: str, run_id: str, validation: TableValidation) -> Path:
    """Write one GX validation-result JSON per suite run plus ``summary.json``.

    Returns
    -------
    Path
        The run's folder ``gx_dir/results/<asset>/<run_id>``.
    """
    from quality.engine import _jsonable

    folder = Path(gx_dir) / "results" / _safe(asset) / _safe(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for res in validation.results:
        doc = res.to_gx_json()
        doc["meta"]["corpusmill"].update({"asset": asset, "run_id": run_id})
        path = folder / f"{_safe(res.suite_name)}__{_safe(str(res.source or 'all'))}.json"
        _write_json(path, doc)
        files.append(path.name)
    summary = {
        "asset": asset,
        "table": validation.table,
        "run_id": run_id,
        "success": validation.success,
        "rows_in": validation.rows_in,
        "rows_kept": validation.rows_kept,
        "rows_quarantined": validation.rows_quarantined,
        "conserved": validation.conserved,
        "results": files,
        "expectations": _jsonable(validation.summary.to_dicts()),
        "written_utc": dt.datetime.now(dt.UTC).isoformat(),
    }
    _write_json(folder / "summary.json", summary)
    return folder


def _write_json(path: Path, doc: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    tmp.replace(path)


def build_data_docs(gx_dir: Path) -> Path:
    """Load new results into GX's validations store under ``gx_dir`` and build Data Docs.

    Returns
    -------
    Path
        ``gx_dir/uncommitted/data_docs/local_site/index.html``.
    """
    from quality._gx import file_context

    gx_dir = Path(gx_dir)
    ctx = file_context(gx_dir)
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResultSchema,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    results = gx_dir / "results"
    marker = results / _INGESTED
    done = set(marker.read_text(encoding="utf-8").split("\n")) if marker.exists() else set()
    new: list[str] = []
    schema = ExpectationSuiteValidationResultSchema()
    for path in sorted(results.glob("*/*/*.json")) if results.exists() else []:
        rel = path.relative_to(results).as_posix()
        if path.name == "summary.json" or rel in done:
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        meta = doc.get("meta", {})
        cm = meta.get("corpusmill", {})
        run = meta.get("run_id", {})
        run_time = dt.datetime.fromisoformat(run.get("run_time")) if run.get("run_time") else None
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=doc["suite_name"]),
            run_id=RunIdentifier(run_name=run.get("run_name"), run_time=run_time),
            batch_identifier=f"{cm.get('asset', cm.get('table'))}-{cm.get('source') or 'all'}",
        )
        ctx.validation_results_store.set(key, schema.load(doc))
        new.append(rel)
    ctx.build_data_docs()
    if new:
        with marker.open("a", encoding="utf-8") as fh:
            fh.write("".join(f"{r}\n" for r in new))
    index = gx_dir / "uncommitted" / "data_docs" / "local_site" / "index.html"
    if not index.exists():  # pragma: no cover - GX changed its default site layout
        msg = f"GX built Data Docs but {index} is missing"
        raise RuntimeError(msg)
    return index
