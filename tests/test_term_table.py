"""The term table (index.term_table): the query terms each passage holds, as its stored lexical row says, for a
rebuilt version, an appended one (parts linked and added, folded past the cap) and one written before the table;
a damaged table refused by name."""
import json
import os
import shutil
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

import index.append as append
import index.tantivy_lexical as tantivy_lexical
from index.articles import read_articles
from index.fts import FtsLexicalIndex
from index.lexical import tokens
from index.layout import file_facts
from index.pipeline import build_index, update_index
from index.store import IndexDamaged, index_lock, open_index, open_version
from index.tantivy_lexical import TANTIVY, WORDS, TantivyIndex
from index.term_table import PartWriter, TermTable, part_files, part_firsts

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "articles.jsonl"


@pytest.fixture
def small_index(tmp_path, embedder) -> Path:
    with index_lock(tmp_path):
        build_index(read_articles([SAMPLE])[:12], tmp_path, embedder)
    return tmp_path


def _queries(articles) -> list[list[str]]:
    """Term sets that every passage answers differently: each article's title, and a few words no passage holds."""
    return [tokens(article.title) for article in articles] + [["ناموجود", "oil", "exports"]]


def _assert_table_matches_rows(index_dir: Path, articles) -> TermTable:
    version = open_index(index_dir)
    with closing(version.connect()) as db:
        search = TantivyIndex(version.path / TANTIVY).field(WORDS, db)
        table = search.index.terms
        assert table is not None and table.passages == version.manifest["passages"]
        every = list(range(version.manifest["passages"]))
        for terms in _queries(articles):
            assert dict(table.holding(every, terms)) == dict(search._rows_terms(every, set(terms)))
    return table


def test_the_table_holds_the_terms_of_each_passages_stored_row(small_index):
    articles = read_articles([SAMPLE])[:12]
    table = _assert_table_matches_rows(small_index, articles)
    assert len(table.parts) == 1
    held = dict(table.holding([0, 1], tokens(articles[0].title)))
    assert held[0], "the first passage holds words of its own title"


def test_an_update_links_the_parts_and_adds_one_for_its_passages(small_index, embedder):
    articles = read_articles([SAMPLE])
    live = open_index(small_index)
    with index_lock(small_index):
        update_index(small_index, embedder, articles[12:16])
    version = open_index(small_index)
    assert version.manifest.get("appended")
    firsts = part_firsts(version.path / TANTIVY)
    assert firsts == [0, live.manifest["passages"]]
    for name in part_files(0):
        assert os.path.samefile(live.path / TANTIVY / name, version.path / TANTIVY / name)
    _assert_table_matches_rows(small_index, articles[:16])
    # and hybrid's hits carry those terms: the engine's tantivy search agrees with FTS5's matched terms
    with closing(version.connect()) as db:
        tan = TantivyIndex(version.path / TANTIVY).field(WORDS, db)
        for terms in _queries(articles[12:16]):
            assert {h.passage_id: h.matched for h in tan.search(terms, 1000)} == \
                   {h.passage_id: h.matched for h in FtsLexicalIndex(db).search(terms, 1000)}


def test_parts_past_the_cap_are_folded_into_one(small_index, embedder, monkeypatch):
    monkeypatch.setattr(tantivy_lexical, "MAX_PARTS", 2)
    monkeypatch.setattr(append, "MERGE_APPENDED_SHARE", 1.0)  # appending, not merging, on this small index
    articles = read_articles([SAMPLE])
    starts = []
    for batch in (articles[12:14], articles[14:16], articles[16:18]):
        starts.append(open_index(small_index).manifest["passages"])
        with index_lock(small_index):
            update_index(small_index, embedder, batch)
    firsts = part_firsts(open_index(small_index).path / TANTIVY)
    # the third update found parts [0, a, b]: a and b folded into one from a, and its own part after it
    assert firsts == [0, starts[0], starts[2]]
    _assert_table_matches_rows(small_index, articles[:18])


def test_a_damaged_term_table_is_refused_by_name(small_index):
    version = open_index(small_index)
    copy = small_index / "copy"
    shutil.copytree(version.path, copy)
    offsets, _ = part_files(0)
    path = copy / TANTIVY / offsets
    np.save(path, np.load(path)[:-1])
    with pytest.raises(IndexDamaged, match=offsets.replace(".", r"\.")):
        open_version(copy)
    # the same short table with the manifest agreeing (as a faulty writer would leave it): its coverage is checked
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"][f"{TANTIVY}/{offsets}"] = file_facts(path)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexDamaged, match="term table part from passage 0 holds"):
        open_version(copy)


def test_a_version_without_the_table_reads_the_terms_from_sqlite(small_index):
    version = open_index(small_index)
    copy = small_index / "copy"
    shutil.copytree(version.path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    for name in part_files(0):
        (copy / TANTIVY / name).unlink()
        manifest["files"].pop(f"{TANTIVY}/{name}")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    old = open_version(copy)
    with closing(old.connect()) as db:
        tan = TantivyIndex(copy / TANTIVY).field(WORDS, db)
        assert tan.index.terms is None
        terms = tokens(read_articles([SAMPLE])[0].title)
        assert {h.passage_id: h.matched for h in tan.search(terms, 1000)} == \
               {h.passage_id: h.matched for h in FtsLexicalIndex(db).search(terms, 1000)}
    old.close()


def test_rows_out_of_order_and_too_many_terms_are_refused(tmp_path):
    writer = PartWriter(5)
    with pytest.raises(ValueError, match="passage 7 where 5 was due"):
        list(writer.recording([(7, None, None, "a b", "")]))
    list(PartWriter(0).recording([]))
    writer = PartWriter(0)
    list(writer.recording([(0, None, None, "a b", ""), (1, None, None, "", "")]))
    writer.write(tmp_path)
    table = TermTable.load(tmp_path)
    assert dict(table.holding([0, 1], ["b", "c"])) == {0: frozenset({"b"}), 1: frozenset()}
    with pytest.raises(ValueError, match="64 distinct terms"):
        list(table.holding([0], [f"t{i}" for i in range(64)]))
