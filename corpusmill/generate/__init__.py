"""The sample factory: a seeded, deliberately fragmented plant to run the pipeline on.

:func:`generate` writes two sites into a folder, the way their systems would export them:

- ``shenzhen`` (modern, UTC): a clean Parquet historian, MES batches, inspection images, tickets.
- ``suzhou`` (traditional, Asia/Shanghai): GB18030 SCADA CSVs with Chinese headers, °F and psi,
  three spellings per machine and a truncated last file; a wide data-logger CSV with a BOM and
  US-style timestamps; an Excel lab workbook whose first sheet is a decoy; MES work orders in
  local time; CMMS maintenance logs in Chinese and English with planted personal data.

Next to the data it writes ``sources.yaml`` (which :func:`corpusmill.config.load` accepts) and
``ground_truth.json``: per source and per file the units delivered, the units the canonical table
should keep, and the units that must be quarantined, by check code. The counts are exact: every
defect sits on its own row, and ``units_in == kept + sum(quarantined)`` for every source.

Where each defect is meant to be caught (the ``check`` codes are the contract with ingest and
quality):

- ingest: ``non_numeric`` (a historian status string in a numeric cell), ``bad_timestamp``,
  ``ragged_row`` (too many or too few fields, including the cut-off last line of the last
  ``traditional_historian`` file), ``unknown_equipment`` (an alias the registry lacks);
- standardize: ``duplicate`` (a later exact copy of a clean row in the same file);
- validate: ``expect_column_values_to_not_be_null`` (an empty value cell) and
  ``expect_column_values_to_be_between`` (a temperature or pressure outside the physical range
  after conversion to SI: K in [173.15, 1273.15], Pa in [0, 1e8]).

``quality_lab`` has ``QUALITY_BLANKS`` blank measurements per unit of scale, all on variable
inspections (with spec limits): the quality suite quarantines them (``value_not_null``) and, as
they stay under its 5% threshold, passes.

``wide_historian`` counts in cells: a non-numeric or out-of-range cell is one unit, a row with a bad
timestamp, a ragged row or a duplicate row is all of its tag cells.

Duplicate files: the exact duplicate manual is the same text re-saved on Windows (UTF-8 BOM, CRLF),
so ingest keeps both files and the text corpus finds the duplicate; the near duplicate changes a
few words. The duplicate image is byte-identical under another name: ingest reads identical bytes
of one source once (a re-delivery), so that file is left out of the source's ``files`` and units,
and ``images`` counts the files on disk (``count``) and the copies among them (``duplicates``).

``pii`` counts the planted names, phone numbers, e-mails and ID-card numbers over
``maintenance_logs`` (description and action) and ``service_tickets`` (body); nothing else holds
personal data. ``redaction`` counts every piece planted per placeholder (``[SUPPLIER]``,
``[CUSTOMER]``, ``[SERIAL]``, ``[RECIPE]``, ``[SETPOINT]``, ``[NAME]`` with the PII's own) and lists
the confidential pieces verbatim (``items``); ``sources.yaml`` declares those terms under
``corpora.text_corpus.confidential`` (from the ``confidential`` block of
``defaults/sample_factory.yaml``).

Same seed and scale give byte-identical files: nothing reads the clock.

The package, by what each module writes: :mod:`~corpusmill.generate.plant` (machines, calendar
and the plan every writer renders), :mod:`~corpusmill.generate.truth` (check codes, tallies,
defect injection), :mod:`~corpusmill.generate.sensors` (the three historians),
:mod:`~corpusmill.generate.quality` (the lab workbook), :mod:`~corpusmill.generate.mes` (the MES
SQLite file), :mod:`~corpusmill.generate.maintenance` (CMMS logs and PII planting),
:mod:`~corpusmill.generate.documents` (service tickets, manuals, SOPs),
:mod:`~corpusmill.generate.images` (inspection photos) and :mod:`~corpusmill.generate.sources`
(``sources.yaml``); :mod:`~corpusmill.generate.files` has the CSV helper two of them share.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from corpusmill.generate.confidential import ConfidentialPlanter
from corpusmill.generate.documents import write_documents, write_service_tickets
from corpusmill.generate.images import write_inspection_images
from corpusmill.generate.maintenance import PiiPlanter, write_maintenance_logs
from corpusmill.generate.mes import write_mes
from corpusmill.generate.plant import MACHINES, make_plan, rng_for
from corpusmill.generate.quality import QUALITY_BLANKS, write_quality_lab
from corpusmill.generate.sensors import (
    STATUS_STRINGS,
    UNKNOWN_ALIASES,
    write_modern_historian,
    write_traditional_historian,
    write_wide_historian,
)
from corpusmill.generate.sources import sources_yaml
from corpusmill.generate.truth import Written

__all__ = ["QUALITY_BLANKS", "STATUS_STRINGS", "UNKNOWN_ALIASES", "generate"]


#: Top-level names generate() writes; only these are removed when a folder is regenerated.
OWNED = ("modern", "traditional", "quality", "mes", "maintenance", "service", "docs", "images",
         "sources.yaml", "ground_truth.json")  # fmt: skip


def _prepare(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise NotADirectoryError(f"{out} is a file; give a folder to write the factory into")
        if any(out.iterdir()) and not (out / "ground_truth.json").exists():
            msg = (f"{out} is not empty and holds no earlier sample factory "
                   "(no ground_truth.json); choose an empty or new folder")  # fmt: skip
            raise FileExistsError(msg)
        for name in OWNED:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _process_quality_truth(plan: Any, outcomes: dict[str, Any]) -> dict[str, Any]:
    """What ``process_quality`` must hold: one row per inspected work order (every machine's
    historian covers its orders), and every other order or batch excluded for ``no_outcome``."""
    orders = [*plan.work_orders, *plan.batches]
    inspected = [o for o in orders if o.lot.upper() in outcomes]
    return {
        "rows": len(inspected),
        "excluded": {"no_outcome": len(orders) - len(inspected)},
        "respelled": sorted(k for k, v in outcomes.items() if v["spelled"] != k),
        "lots": {o.lot.upper(): {"event_id": o.id, "equipment_id": o.equipment,
                                 **outcomes[o.lot.upper()]} for o in inspected},
    }  # fmt: skip


def _bank() -> dict[str, Any]:
    text = resources.files("corpusmill").joinpath("defaults/sample_factory.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def generate(
    out: str | Path,
    *,
    scale: int = 1,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write the sample factory into ``out`` and return its ground truth.

    Parameters
    ----------
    out
        The folder to write. It is created if missing; a folder that already holds a sample
        factory (it has a ``ground_truth.json``) is regenerated in place.
    scale
        Days of data per 3; rows and injected defects grow linearly with it. Scale 1 is about
        23,000 sensor readings and well under 5 MB.
    seed
        Same seed and scale give byte-identical files.
    progress
        Called with a short message as each source is written.

    Returns
    -------
    dict
        The ground truth, also written to ``out/ground_truth.json``.

    Raises
    ------
    FileExistsError
        ``out`` is a non-empty folder that is not an earlier sample factory.
    """
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a whole number >= 1, got {scale!r}")
    out = Path(out)
    say = progress or (lambda _msg: None)
    _prepare(out)
    bank = _bank()
    plan = make_plan(seed, scale)
    pii = PiiPlanter(bank, rng_for(seed, "pii"))
    conf = ConfidentialPlanter(bank, rng_for(seed, "confidential"))
    outcomes: dict[str, Any] = {}
    writers: list[Callable[[], list[Written]]] = [
        lambda: write_modern_historian(out, plan, bank),
        lambda: write_traditional_historian(out, plan, bank),
        lambda: write_wide_historian(out, plan, bank),
        lambda: write_quality_lab(out, plan, bank, outcomes),
        lambda: write_mes(out, plan, bank),
        lambda: write_maintenance_logs(out, plan, bank, pii, conf),
        lambda: write_service_tickets(out, plan, bank, pii, conf),
        lambda: write_documents(out, plan, bank),
        lambda: write_inspection_images(out, plan, bank),
    ]
    sources: list[dict[str, Any]] = []
    truths: dict[str, Any] = {}
    for write in writers:
        for source, tally in write():
            sources.append(source)
            truths[source["name"]] = tally.as_dict()
            t = truths[source["name"]]
            say(f"{source['name']}: {len(t['files'])} file(s), {t['units_in']} {t['unit']}, "
                f"{t['units_in'] - t['kept']} to quarantine")  # fmt: skip
    corpora = {"text_corpus": {"confidential": bank["confidential"]["declare"]}}
    (out / "sources.yaml").write_text(
        sources_yaml(plan, sources, corpora=corpora), encoding="utf-8", newline="\n"
    )
    images = len(list((out / "images").glob("*.png")))
    truth = {
        "seed": seed,
        "scale": scale,
        "sources": truths,
        "equipment": {m.id: list(m.aliases) for m in MACHINES},
        "pii": dict(pii.counts),
        "redaction": conf.truth(pii.counts),
        "documents": {"exact_duplicates": 1, "near_duplicates": 1},
        "images": {"count": images, "duplicates": 1,
                   # name -> the photo it nearly duplicates (image_corpus excludes the name)
                   "near_duplicates": bank.pop("_near_duplicate_images", {})},
        "process_quality": _process_quality_truth(plan, outcomes),
    }
    (out / "ground_truth.json").write_text(
        json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8", newline="\n"
    )
    say(f"wrote {out} (seed {seed}, scale {scale})")
    return truth
