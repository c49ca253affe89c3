"""Persian stems as a second lexical field: written beside the words, searched on their own, mixed into
hybrid's evidence; an index written before stems still opens and serves, and ``index.update --rewrite``
adds them without embedding anything."""
from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from index.articles import Article
from index.filter import NO_FILTER
from index.fts import FtsLexicalIndex, stem_index
from index.layout import LEXICAL, MANIFEST
from index.lexical import STEMS, has_stems, stem, stems, tokens
from index.store import IndexDamaged, file_facts, index_lock, open_index
from search import candidates
from search.candidates import STEMS_UP_TO, searches_stems
from search.engine import SearchEngine
from search.fusion import DEFAULT_FUSION
from search.understanding import understand
from settings import Settings
from tests.test_lexical import lexical_db

BOOKS = ["کتاب‌های تازه در نمایشگاه فروخته شد", "کتابی درباره تاریخ ایران خواندم", "هوای تهران امروز آفتابی است"]


def test_stems_cut_persian_suffixes_and_leave_latin_alone():
    assert stem("کتابهایشان") == "کتاب" and stem("کتابی") == "کتاب"
    assert stem("بزرگترین") == "بزرگ"
    assert stem("banks") == "banks" and stem("1403") == "1403"
    assert stem("ها") == "ها"  # nothing would be left: the term stays itself
    assert stems(tokens("کتاب‌ها و کتابی")) == ["کتاب", "کتاب"]


def test_the_stems_field_finds_other_forms_the_words_field_misses(tmp_path):
    db = lexical_db(tmp_path, BOOKS)
    assert has_stems(db)
    assert FtsLexicalIndex(db).search(tokens("کتاب"), 10) == []  # the words are کتابها and کتابی
    hits = FtsLexicalIndex(db, STEMS).search(stems(tokens("کتاب")), 10)
    assert {hit.passage_id for hit in hits} == {0, 1}
    assert all(hit.matched == {"کتاب"} for hit in hits)
    idf = FtsLexicalIndex(db, STEMS).idf(["کتاب", "هوا"])
    assert idf["کتاب"] < idf["هوا"]  # two passages hold the first stem, one the second


@pytest.fixture(scope="module")
def books_index(tmp_path_factory, embedder) -> Path:
    from index.pipeline import build_index

    index_dir = tmp_path_factory.mktemp("books")
    articles = [Article(f"b{i}", "", text) for i, text in enumerate(BOOKS)]
    with index_lock(index_dir):
        build_index(articles, index_dir, embedder)
    return index_dir


def test_hybrid_counts_a_passage_holding_only_the_stem(books_index, embedder):
    engine = SearchEngine(open_index(books_index), embedder)
    assert engine.stem_lexical is not None and engine.fusion.stem_weight > 0
    terms = tokens("کتاب")
    vector = engine.query_vectors.of("کتاب")
    found = candidates.hybrid_candidates(
        engine.vectors, engine.arrays, engine.version.sentence_vectors, vector,
        candidates.dense_hits(engine.vectors, vector, NO_FILTER), terms,
        candidates.lexical_pool(engine.lexical, terms, NO_FILTER),
        candidates.lexical_pool(engine.stem_lexical, stems(terms), NO_FILTER))
    assert not found.tokens.bm25.any()
    assert {int(i) for i, score in zip(found.ids, found.stems.bm25) if score > 0} == {0, 1}

    without = SearchEngine(engine.version, embedder, replace(engine.fusion, stem_weight=0.0))
    with_stems = engine._score(understand("کتاب"), "hybrid", NO_FILTER)
    plain = without._score(understand("کتاب"), "hybrid", NO_FILTER)
    assert with_stems[0] > plain[0] and with_stems[1] > plain[1]  # the two book passages gain evidence
    assert with_stems[2] == pytest.approx(plain[2])  # the weather passage holds neither words nor stems


def _as_before_stems(index_dir: Path) -> None:
    """Make the live version's lexical index what Kavosh wrote before stems (format 2), manifest to match."""
    version = open_index(index_dir).path
    db = sqlite3.connect(version / LEXICAL)
    db.executescript("DROP TABLE lexical_stem_terms; DROP TABLE lexical_stems; "
                     "UPDATE lexical_info SET value = '2' WHERE key = 'format';")
    db.commit()
    db.close()
    manifest = json.loads((version / MANIFEST).read_text())
    manifest["files"][LEXICAL] = file_facts(version / LEXICAL)
    (version / MANIFEST).write_text(json.dumps(manifest))


def test_an_index_from_before_stems_serves_and_a_rewrite_adds_them(books_index, embedder, tmp_path, caplog):
    from index.update import main as update_main

    old = tmp_path / "old"
    shutil.copytree(books_index, old, symlinks=True)
    _as_before_stems(old)
    version = open_index(old)
    engine = SearchEngine(version, embedder)
    assert "written before lexical stems" in caplog.text and "--rewrite" in caplog.text
    assert engine.stem_lexical is None
    assert [a for a, _ in engine.ranked_articles("کتاب تاریخ ایران", 3)][0] == "b1"
    articles, passages = version.manifest["articles"], version.manifest["passages"]

    assert update_main(["--rewrite", "--index", str(old), "--quiet"]) == 0
    rewritten = open_index(old)
    assert rewritten.manifest["version"] != version.manifest["version"]
    assert (rewritten.manifest["articles"], rewritten.manifest["passages"]) == (articles, passages)
    db = rewritten.connect()
    assert has_stems(db) and stem_index(db) is not None
    assert {hit.passage_id for hit in stem_index(db).search(["کتاب"], 10)} == {0, 1}
    db.close()


def test_open_refuses_a_stems_field_that_lost_rows(books_index, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(books_index, damaged, symlinks=True)
    version = open_index(damaged).path
    db = sqlite3.connect(version / LEXICAL)
    db.execute("DELETE FROM lexical_stems WHERE rowid = 1")
    db.commit()
    db.close()
    manifest = json.loads((version / MANIFEST).read_text())
    manifest["files"][LEXICAL] = file_facts(version / LEXICAL)
    (version / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexDamaged, match="lexical_stems holds 2 passages, the version has 3"):
        open_index(damaged)


def test_auto_searches_stems_only_where_they_are_cheap():
    assert searches_stems("auto", STEMS_UP_TO) and not searches_stems("auto", STEMS_UP_TO + 1)
    assert searches_stems("on", 10**7) and not searches_stems("off", 10)
    assert Settings.from_env({}).stem_search == "auto"
    assert Settings.from_env({"KAVOSH_STEMS": "OFF"}).stem_search == "off"
    with pytest.raises(ValueError, match="KAVOSH_STEMS must be one of auto, on, off"):
        Settings.from_env({"KAVOSH_STEMS": "yes"})


def test_stem_search_off_ranks_as_without_stems(books_index, embedder):
    version = open_index(books_index)
    off = SearchEngine(version, embedder, stem_search="off")
    weightless = SearchEngine(version, embedder, replace(DEFAULT_FUSION, stem_weight=0.0))
    assert not off.searches_stems and SearchEngine(version, embedder).searches_stems
    for query in ("کتاب", "کتاب‌های تاریخ"):
        assert off._score(understand(query), "hybrid", NO_FILTER) == \
            weightless._score(understand(query), "hybrid", NO_FILTER)
