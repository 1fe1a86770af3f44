"""Corpus diffs: exact added/removed/changed counts by source between two known versions."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner

from corpusmill import catalog, sandbox, versions
from corpusmill.corpus import CorpusError
from corpusmill.diff import diff_versions
from corpusmill.home import Home

pytestmark = pytest.mark.xdist_group("diff")


def _frame(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"doc_id": pl.String, "text": pl.String, "_source": pl.String},
                        orient="row")  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """text_corpus v0: d1..d6; v1: d1, d2 unchanged, d3 (cmms) and d4 (docs) changed, d5 (docs)
    and d6 (cmms) removed, d7 (docs), d8 (docs), d9 (cmms) added."""
    h = Home(tmp_path_factory.mktemp("diffhome"))
    v0 = _frame([("d1", "a", "cmms"), ("d2", "b", "docs"), ("d3", "c", "cmms"),
                 ("d4", "d", "docs"), ("d5", "e", "docs"), ("d6", "f", "cmms")])  # fmt: skip
    v1 = _frame([("d1", "a", "cmms"), ("d2", "b", "docs"), ("d3", "C!", "cmms"),
                 ("d4", "D!", "docs"), ("d7", "g", "docs"), ("d8", "h", "docs"),
                 ("d9", "i", "cmms")])  # fmt: skip
    for df in (v0, v1):
        versions.publish(h.lake, "text_corpus", df, sort_by=["doc_id"], inputs={}, config={})
    catalog.refresh(h)
    return h


def test_the_diff_counts_added_removed_and_changed_rows_by_source(home: Home) -> None:
    d = diff_versions(home.lake, "text_corpus", 0, 1)
    assert d.counts == {"added": 3, "removed": 2, "changed": 2}
    assert d.by_source == {
        "cmms": {"added": 1, "removed": 1, "changed": 1},
        "docs": {"added": 2, "removed": 1, "changed": 1},
    }
    assert d.samples == {"added": ["d7", "d8", "d9"], "removed": ["d5", "d6"],
                         "changed": ["d3", "d4"]}  # fmt: skip
    same = diff_versions(home.lake, "text_corpus", 1, 1)
    assert same.counts == {"added": 0, "removed": 0, "changed": 0} and same.by_source == {}


def test_unknown_versions_and_corpora_are_named(home: Home) -> None:
    with pytest.raises(CorpusError, match="text_corpus has no version 5; versions: 0, 1"):
        diff_versions(home.lake, "text_corpus", 0, 5)
    with pytest.raises(CorpusError, match="unknown corpus 'txt'"):
        diff_versions(home.lake, "txt", 0, 1)


def test_the_cli_prints_a_table_and_json(home: Home) -> None:
    from pipelines.cli import main

    r = CliRunner().invoke(main, ["diff", "text_corpus", "0", "1", "--home", str(home.root),
                                  "--format", "json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["counts"] == {"added": 3, "removed": 2, "changed": 2}
    assert out["by_source"]["docs"] == {"added": 2, "removed": 1, "changed": 1}
    r = CliRunner().invoke(main, ["diff", "text_corpus", "0", "1", "--home", str(home.root)])
    assert r.exit_code == 0, r.output
    assert "added: d7, d8, d9" in r.output and "cmms" in r.output
    bad = CliRunner().invoke(main, ["diff", "text_corpus", "0", "9", "--home", str(home.root)])
    assert bad.exit_code != 0 and "has no version 9" in bad.output


#: The documented SQL (docs/corpora.md): the same diff over two version views of the catalog.
DIFF_SQL = """
SELECT coalesce(n._source, o._source) AS source,
       count(*) FILTER (o.doc_id IS NULL) AS added,
       count(*) FILTER (n.doc_id IS NULL) AS removed,
       count(*) FILTER (o.doc_id IS NOT NULL AND n.doc_id IS NOT NULL
                        AND n.text IS DISTINCT FROM o.text) AS changed
FROM text_corpus_v0 o FULL OUTER JOIN text_corpus_v1 n USING (doc_id)
GROUP BY ALL ORDER BY source
"""


def test_the_documented_sql_gives_the_same_counts(home: Home) -> None:
    rows = sandbox.query(home, DIFF_SQL).rows()
    assert rows == [("cmms", 1, 1, 1), ("docs", 2, 1, 1)]
