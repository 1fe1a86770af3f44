"""Provenance that does not depend on where the data or the home sits.

The same sample factory copied to two folders and built into two homes gives corpora with equal
content hashes (rows keep ``_file`` relative to the sources file), and a home moved after its build
still answers queries with the same rows.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import corpusmill
from corpusmill import sandbox, versions
from corpusmill.config import load
from corpusmill.corpora import CORPORA
from corpusmill.ingest.files import provenance_path
from corpusmill.layout import Lake

pytestmark = pytest.mark.xdist_group("provenance")


def _hashes(home) -> dict[str, str]:
    out = {}
    for name in CORPORA:
        m = versions.latest_manifest(Lake(home.lake).table(name))
        assert m is not None, f"{name} was not published"
        out[name] = m["content_hash"]
    return out


@pytest.fixture(scope="module")
def two_builds(factory: Path, tmp_path_factory: pytest.TempPathFactory):
    from corpusmill.home import Home
    from pipelines.runner import run_pipeline

    homes = []
    for where in ("plant-a/data", "elsewhere/deeper/copy"):
        data = tmp_path_factory.mktemp("prov") / where
        shutil.copytree(factory, data)
        home = Home(tmp_path_factory.mktemp("provhome"))
        run_pipeline(data / "sources.yaml", home)
        homes.append((data, home))
    return homes


def test_the_same_data_at_two_paths_gives_the_same_corpus_content_hashes(two_builds) -> None:
    (_, a), (_, b) = two_builds
    ha, hb = _hashes(a), _hashes(b)
    assert ha == hb
    assert len(set(ha.values())) == len(CORPORA)  # the corpora are not all empty


def test_rows_keep_the_file_relative_to_the_sources_file(two_builds) -> None:
    data, home = two_builds[0]
    files = sandbox.query(home, "SELECT DISTINCT _file FROM maintenance_records ORDER BY 1")
    names = files["_file"].to_list()
    assert names and all(not f.startswith("/") and str(data) not in f for f in names)
    assert all((data / f).is_file() for f in names)
    text = sandbox.query(home, "SELECT DISTINCT _file FROM text_corpus")["_file"].to_list()
    assert text and all(not f.startswith("/") for f in text)


def test_provenance_path_is_relative_to_the_sources_folder_then_a_data_root(
    factory: Path, tmp_path: Path
) -> None:
    base, root = (tmp_path / "cfg").resolve(), (tmp_path / "shared").resolve()
    cfg = load(factory / "sources.yaml").model_copy(
        update={"base_dir": base, "data_roots": [".", str(root)]}
    )
    assert provenance_path(cfg, str(base / "sub" / "a.csv")) == "sub/a.csv"
    assert provenance_path(cfg, str(root / "x" / "b.csv")) == "x/b.csv"
    assert provenance_path(cfg, "s3://bucket/k/c.csv") == "s3://bucket/k/c.csv"


def test_a_moved_home_answers_queries_with_the_same_rows(two_builds, tmp_path: Path) -> None:
    from corpusmill.home import Home

    _, built = two_builds[1]
    sql = "SELECT doc_id, _source, _file, _row FROM text_corpus ORDER BY doc_id"
    before = sandbox.query(built, sql)
    versions_sql = "SELECT corpus, version, content_hash FROM corpus_versions ORDER BY ALL"
    before_versions = sandbox.query(built, versions_sql)
    moved = tmp_path / "moved-home"
    shutil.move(str(built.root), moved)
    try:
        home = Home(moved)
        after = sandbox.query(home, sql)
        assert after.height == before.height > 0 and after.equals(before)
        assert sandbox.query(home, versions_sql).equals(before_versions)
        view = sandbox.query(home, "SELECT max(view) AS v FROM corpus_versions "
                             "WHERE corpus = 'text_corpus'")["v"][0]
        with corpusmill.connect(moved) as con:
            n = con.sql(f"SELECT count(*) FROM {view}").fetchone()
        assert n == (before.height,)
    finally:
        shutil.move(str(moved), built.root)


def test_licences_are_validated_and_unknown_spdx_ids_warned(factory: Path, tmp_path: Path) -> None:
    cfg = load(factory / "sources.yaml")
    src = cfg.sources[0]
    assert cfg.license_of(src)[0] == "CC0-1.0" and cfg.license_of(src)[1].endswith("plant")
    text = (factory / "sources.yaml").read_text(encoding="utf-8")
    odd = tmp_path / "sources.yaml"
    odd.write_text(text.replace("license: CC0-1.0", "license: CC-BY-9.9", 1), encoding="utf-8")
    with pytest.warns(UserWarning, match="'CC-BY-9.9' is not a known SPDX id"):
        load(odd)


def test_the_data_card_lists_licences_and_warns_on_mixed_ones(factory: Path) -> None:
    import polars as pl

    from corpusmill.licenses import family, mixing_warning
    from corpusmill.corpora import data_card
    from corpusmill.corpus import BuildResult

    cfg = load(factory / "sources.yaml")
    a, b = cfg.sources[0], cfg.sources[1]
    cfg = cfg.model_copy(update={"sources": [a.model_copy(update={"license": "CC-BY-NC-4.0"}),
                                             b, *cfg.sources[2:]]})  # fmt: skip
    spec = CORPORA["sft_pairs"]
    frame = pl.DataFrame({"pair_id": ["1", "2", "3"], "_source": [a.name, b.name, b.name]})
    excluded = pl.DataFrame({"reason": ["dup"] * 2, "check": ["duplicate"] * 2})
    card = data_card(spec, frame, result=BuildResult(frame, excluded, {"deduplicated": 2}),
                     licenses=cfg.licenses())  # fmt: skip
    assert card["sources"][a.name] == {"rows": 1, "license": "CC-BY-NC-4.0",
                                       "owner": cfg.license_of(a)[1]}  # fmt: skip
    assert card["sources"][b.name]["rows"] == 2 and card["excluded"] == {"duplicate": 2}
    assert "non-commercial with permissive" in card["license_warning"]
    md = card["markdown"]
    assert f"| {a.name} | 1 | CC-BY-NC-4.0 |" in md and "- removed by duplicate: 2" in md
    assert "**WARNING: sources of incompatible licences" in md
    assert family("MIT") == "permissive" and family("LicenseRef-acme") == "proprietary"
    assert mixing_warning(["MIT", "CC0-1.0"]) is None


def test_each_version_saves_its_data_card_beside_the_manifest(two_builds) -> None:
    _, home = two_builds[0]
    at = Lake(home.lake)
    m = versions.latest_manifest(at.table("text_corpus"))
    card = at.data_card("text_corpus", m["version"])
    assert card.is_file() and card.read_text(encoding="utf-8").startswith("# Data card: text_corpus")
    import json

    saved = json.loads(at.manifest("text_corpus", m["version"]).read_text(encoding="utf-8"))
    assert saved["data_card_file"] == f"_manifests/text_corpus/v{m['version']}.md"
