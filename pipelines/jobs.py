"""Jobs: one per ingest asset (its partitions are its sources) and one for everything after."""

from __future__ import annotations

from dataclasses import dataclass

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
