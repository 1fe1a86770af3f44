"""Automation conditions: how assets downstream of ingest keep themselves up to date."""

from __future__ import annotations

import dagster as dg

#: Materialize after any upstream asset was materialized (and once it first can be).
EAGER = dg.AutomationCondition.eager()
