"""Jobs: one per ingest asset (its partitions are its sources) and one for everything after."""

from __future__ import annotations

import dagster as dg


def build_jobs(ingest_assets: list[dg.AssetsDefinition]) -> list[dg.UnresolvedAssetJobDefinition]:
    jobs = [
        dg.define_asset_job(
            f"ingest_{a.key.path[-1].removeprefix('staged_')}",
            selection=dg.AssetSelection.assets(a),
            description=f"Ingest the new and changed files of the sources feeding {a.key.path[-1]}.",
        )
        for a in ingest_assets
    ]
    jobs.append(
        dg.define_asset_job(
            "build_corpora",
            selection=dg.AssetSelection.all() - dg.AssetSelection.groups("ingest"),
            description="Standardize, validate, build the corpora and plan the shards.",
        )
    )
    return jobs
