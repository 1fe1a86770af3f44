"""Expectation suites, one module per canonical table and per corpus.

``suite_for(table, overrides, schema=...)`` builds the suite, applies the overrides in force
(``SourcesConfig.quality_overrides(source)``: global, then site, then source) and checks it against
the table's polars schema, so a bad suite fails before any data is read.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from corpusmill import canonical
from corpusmill.corpora import CORPORA
from quality.spec import Suite, SuiteError, apply_overrides, validate_suite

if TYPE_CHECKING:
    import polars as pl

    from corpusmill.config import QualityOverrides

#: Canonical tables with a suite.
TABLE_SUITES = (
    "sensor_readings",
    "production_events",
    "quality_inspections",
    "maintenance_records",
    "documents",
    "inspection_images",
)
#: Corpora with a suite: every corpus of the registry (whose schema the suite validates against).
CORPUS_SUITES = tuple(CORPORA)
SUITES = TABLE_SUITES + CORPUS_SUITES


def suite_name(table: str) -> str:
    """``<table>_suite``: the name of the table's suite, and of its Dagster asset check."""
    return f"{table}_suite"


def default_schema(table: str) -> pl.Schema:
    """The polars schema a table's frames have: canonical (with provenance) or the corpus's."""
    if table in TABLE_SUITES:
        return canonical.schema(table)
    _module(table)  # an unknown table fails here, with the list of suites
    return CORPORA[table].schema


def _module(table: str):  # noqa: ANN202
    if table not in SUITES:
        msg = f"no quality suite for table {table!r}; suites exist for: {', '.join(SUITES)}"
        raise SuiteError(msg)
    return importlib.import_module(f"quality.suites.{table}")


def suite_for(
    table: str,
    overrides: QualityOverrides | None = None,
    *,
    schema: pl.Schema | None = None,
) -> Suite:
    """The validated suite for ``table`` with ``overrides`` applied.

    Parameters
    ----------
    table
        A canonical table (``"sensor_readings"`` ...) or a corpus (``"text_corpus"`` ...).
    overrides
        ``{table: {expectation name: ExpectationOverride}}``; only ``overrides[table]`` applies
        here, but every table named must have a suite.
    schema
        The schema of the frame to validate; default the table's canonical schema.

    Raises
    ------
    SuiteError
        Unknown table, unknown expectation name in an override, an override field that does not
        fit the expectation, a column missing from ``schema``, a bound of the wrong type.
    """
    mod = _module(table)
    for t in overrides or {}:
        if t not in SUITES:
            msg = f"quality overrides name table {t!r}, which has no suite; suites: {', '.join(SUITES)}"
            raise SuiteError(msg)
    specs = tuple(mod.expectations())
    suite = Suite(name=suite_name(table), table=table, expectations=specs)
    suite = apply_overrides(suite, (overrides or {}).get(table))
    return validate_suite(suite, schema if schema is not None else default_schema(table))


__all__ = ["CORPUS_SUITES", "SUITES", "TABLE_SUITES", "Suite", "SuiteError", "default_schema",
           "suite_for", "suite_name"]  # fmt: skip
