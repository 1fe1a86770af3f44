"""The ``sources.yaml`` the factory writes: sites, the equipment registry and every source."""

from __future__ import annotations

from typing import Any

import yaml

from corpusmill.generate.plant import MACHINES, Plan


def sources_yaml(
    plan: Plan, sources: list[dict[str, Any]], *, corpora: dict[str, Any] | None = None
) -> str:
    doc = {
        "version": 1,
        "data_roots": ["."],
        "sites": {
            # synthetic data: free to use; owners are the (fictional) plant teams
            "shenzhen": {"timezone": "UTC", "license": "CC0-1.0", "owner": "Shenzhen plant"},
            "suzhou": {"timezone": "Asia/Shanghai", "license": "CC0-1.0", "owner": "Suzhou plant"},
        },
        "equipment": [
            {"id": m.id, "name": m.name, "type": m.type, "aliases": list(m.aliases)}
            for m in MACHINES
        ],
        **({"corpora": corpora} if corpora else {}),
        "sources": sources,
    }
    header = (
        f"# The sample factory (corpusmill.generate, seed {plan.seed}, scale {plan.scale}).\n"
        "# Two sites and every kind of source, with defects at the counts in ground_truth.json.\n"
    )
    return header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)
