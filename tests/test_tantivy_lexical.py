"""The tantivy lexical index: the same hits and matched terms as FTS5, filters inside the search, written by
every kind of version (rebuild, append; a deletion links every file, tests/test_deletions.py) at the cost of what
changed, and checked when opened."""
import json
import math
import os
import shutil
from contextlib import closing
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from index.articles import read_articles
from index.filter import Filter
from index.fts import FtsLexicalIndex, stem_index
from index.lexical import stems, tokens
from index.pipeline import build_index, update_index
from index.store import IndexDamaged, index_lock, open_index, open_version
from index.tantivy_lexical import STEMS, TANTIVY, WORDS, TantivyIndex, tantivy_files
from search.backends import TANTIVY_FROM, LocalBackend, lexical_engine
from search.engine import SearchEngine

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "articles.jsonl"
NO_HITS = "oil exports to asia"  # the sample is Persian: no passage holds these words
QUERIES = ["آلودگی هوا در تهران", "قیمت نفت و صادرات", "نمایشگاه کتاب تهران", "تیم ملی فوتبال ایران",
           "بارش باران و سیل", "دانشگاه", NO_HITS]
FILTERS = [Filter(category="environment"), Filter(date_from=date(2026, 6, 1)),
           Filter(category="economy", date_from=date(2026, 1, 1), date_to=date(2026, 8, 31)), Filter(category="nothing")]


def _searches(version, db):
    index = TantivyIndex(version.path / TANTIVY)
    return [(FtsLexicalIndex(db), index.field(WORDS, db)), (stem_index(db), index.field(STEMS, db))]


def test_tantivy_finds_the_passages_and_terms_fts5_finds(sample_index):
    version = open_index(sample_index)
    with closing(version.connect()) as db:
        for fts, tan in _searches(version, db):
            for text in QUERIES:
                terms = tokens(text) if tan.field == WORDS else stems(tokens(text))
                expected = {hit.passage_id: hit.matched for hit in fts.search(terms, 1000)}
                found = tan.search(terms, 1000)
                assert bool(expected) == (text != NO_HITS), text
                assert {hit.passage_id: hit.matched for hit in found} == expected, text
                assert [hit.score for hit in found] == sorted((hit.score for hit in found), reverse=True)
                # lexical-only search skips the matched terms
                assert {hit.passage_id for hit in tan.search(terms, 1000, matched=False)} == set(expected)
                assert all(not hit.matched for hit in tan.search(terms, 1000, matched=False))


def test_tantivy_idf_is_lucenes_over_fts5s_document_counts(sample_index):
    version = open_index(sample_index)
    with closing(version.connect()) as db:
        fts, tan = _searches(version, db)[0]
        terms = tokens("آلودگی هوا در تهران نفت") + ["wordthatnopassageholds"]
        n = version.manifest["passages"]
        counts = dict(db.execute("SELECT term, doc FROM lex.lexical_terms"))
        for term, idf in tan.idf(terms).items():
            expected = math.log(1 + (n - counts[term] + 0.5) / (counts[term] + 0.5)) if term in counts else 0.0
            assert idf == pytest.approx(expected, rel=1e-6), term
        # the rarer term weighs more in both engines
        fts_idf, tan_idf = fts.idf(terms[:-1]), tan.idf(terms[:-1])
        ranked = sorted(terms[:-1], key=lambda t: (counts[t], t))
        assert sorted(terms[:-1], key=lambda t: (-fts_idf[t], t)) == sorted(terms[:-1], key=lambda t: (-tan_idf[t], t)) \
            or len({counts[t] for t in ranked}) < len(ranked)


@pytest.mark.parametrize("where", FILTERS, ids=lambda f: repr(f))
def test_a_filter_inside_the_search_keeps_what_fts5s_filter_keeps(sample_index, where):
    version = open_index(sample_index)
    with closing(version.connect()) as db:
        fts, tan = _searches(version, db)[0]
        for text in QUERIES:
            terms = tokens(text)
            expected = {hit.passage_id for hit in fts.search(terms, 1000, where)}
            assert {hit.passage_id for hit in tan.search(terms, 1000, where)} == expected, (text, where)
            # a filter narrows the unfiltered hits, scores unchanged (the filter clauses score 0)
            unfiltered = {hit.passage_id: hit.score for hit in tan.search(terms, 1000)}
            assert all(hit.score == pytest.approx(unfiltered[hit.passage_id]) for hit in tan.search(terms, 1000, where))


def test_a_limit_keeps_the_best_scores(sample_index):
    version = open_index(sample_index)
    with closing(version.connect()) as db:
        tan = TantivyIndex(version.path / TANTIVY).field(WORDS, db)
        terms = tokens(QUERIES[0])
        everything = tan.search(terms, 1000)
        top = tan.search(terms, 3)
        assert len(everything) > 3
        assert [hit.score for hit in top] == pytest.approx([hit.score for hit in everything[:3]])


@pytest.fixture
def small_index(tmp_path, embedder) -> Path:
    with index_lock(tmp_path):
        build_index(read_articles([SAMPLE])[:12], tmp_path, embedder)
    return tmp_path


def _tantivy_searcher(index_dir: Path):
    version = open_index(index_dir)
    db = version.connect()
    return version, db, TantivyIndex(version.path / TANTIVY).field(WORDS, db)


def test_an_appending_update_links_the_live_segments_and_adds_its_passages(small_index, embedder):
    articles = read_articles([SAMPLE])
    live = open_index(small_index)
    before = set(tantivy_files(live.manifest))
    new = articles[12:16]
    with index_lock(small_index):
        result = update_index(small_index, embedder, new)
    version, db, tan = _tantivy_searcher(small_index)
    assert version.manifest.get("appended"), "the update appended"
    segments = [name for name in before if not name.endswith(".json")]
    assert segments and all(os.path.samefile(live.path / name, version.path / name) for name in segments)
    assert {name for name in tantivy_files(version.manifest)} - before, "a new segment was written"
    # the new articles' passages are found with the terms FTS5 finds them by
    fts = FtsLexicalIndex(db)
    for article in new:
        terms = tokens(article.title)
        assert {h.passage_id: h.matched for h in tan.search(terms, 1000)} == \
               {h.passage_id: h.matched for h in fts.search(terms, 1000)}
    assert result.embedded_passages > 0
    db.close()


def test_a_changed_category_is_what_the_filter_sees_after_an_update(small_index, embedder):
    articles = read_articles([SAMPLE])[:12]
    moved = articles[0]
    with index_lock(small_index):
        update_index(small_index, embedder, [replace(moved, cat="archive-only")])
    version, db, tan = _tantivy_searcher(small_index)
    assert version.manifest.get("appended") is not None
    terms = tokens(moved.title)
    found = {hit.passage_id for hit in tan.search(terms, 1000, Filter(category="archive-only"))}
    expected = {hit.passage_id for hit in FtsLexicalIndex(db).search(terms, 1000, Filter(category="archive-only"))}
    assert found and found == expected
    old_category = {hit.passage_id for hit in tan.search(terms, 1000, Filter(category=moved.cat))}
    assert not found & old_category
    db.close()


def test_a_damaged_or_missing_tantivy_file_is_refused_by_name(small_index):
    version = open_index(small_index)
    segment = next(name for name in tantivy_files(version.manifest) if name.endswith(".idx"))
    copy = small_index / "copy"
    shutil.copytree(version.path, copy)
    (copy / segment).write_bytes(b"\0" * (copy / segment).stat().st_size)
    with pytest.raises(IndexDamaged, match="does not match its checksum"):
        open_version(copy, verify_checksums=True)
    (copy / segment).unlink()
    with pytest.raises(IndexDamaged, match=segment.replace(".", r"\.")):
        open_version(copy)


def test_which_engine_reads_a_version(small_index):
    version = open_index(small_index)
    assert version.manifest["passages"] <= TANTIVY_FROM
    assert lexical_engine("auto", version) == "fts5"
    assert lexical_engine("tantivy", version) == "tantivy"
    assert lexical_engine("auto", replace(version, manifest={**version.manifest, "passages": TANTIVY_FROM + 1})) == "tantivy"
    older = replace(version, manifest={**version.manifest, "files": {
        name: facts for name, facts in version.manifest["files"].items() if not name.startswith(TANTIVY)}})
    assert lexical_engine("auto", replace(older, manifest={**older.manifest, "passages": TANTIVY_FROM + 1})) == "fts5"
    with pytest.raises(IndexDamaged, match="update --rewrite"):
        lexical_engine("tantivy", older)


def test_an_engine_on_tantivy_answers_like_the_one_on_fts5(sample_index, embedder):
    version = open_index(sample_index)
    fts5 = SearchEngine(version, embedder, backend=LocalBackend("fts5"))
    tantivy = SearchEngine(version, embedder, backend=LocalBackend("tantivy"))
    assert (fts5.lexical_engine, tantivy.lexical_engine) == ("fts5", "tantivy")
    for text in QUERIES:
        for method in ("lexical", "hybrid"):
            a = [r.article_id for r in fts5.search(text, k=5, method=method).results]
            b = [r.article_id for r in tantivy.search(text, k=5, method=method).results]
            assert a[:1] == b[:1] and set(a) == set(b), (text, method)
    filtered = tantivy.search("تهران", k=10, category="environment", method="lexical").results
    assert filtered and all(r.cat == "environment" for r in filtered)


def test_the_manifest_lists_no_lock_file(sample_index):
    version = open_index(sample_index)
    names = tantivy_files(version.manifest)
    assert f"{TANTIVY}/meta.json" in names
    assert not [name for name in names if name.endswith(".lock")]
    assert json.loads((version.path / TANTIVY / "meta.json").read_text())["segments"]


def test_a_forked_worker_searches_the_index_its_parent_opened(sample_index):
    import multiprocessing

    version = open_index(sample_index)
    backend = LocalBackend("tantivy")
    with closing(version.connect()) as db:
        expected = [hit.passage_id for hit in backend.lexical(version, db, None).search(tokens(QUERIES[0]), 50)]
    assert expected

    def child(pipe):
        with closing(version.connect()) as db:
            pipe.send([hit.passage_id for hit in backend.lexical(version, db, None).search(tokens(QUERIES[0]), 50)])

    parent_end, child_end = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(target=child, args=(child_end,))
    process.start()
    process.join(60)
    assert process.exitcode == 0
    assert parent_end.recv() == expected
    assert len(backend._tantivy) == 1  # the child opened its own; the parent's is its own still


def test_only_a_changed_category_or_date_writes_passages_again(small_index, embedder):
    articles = read_articles([SAMPLE])[:12]
    with index_lock(small_index):  # every article sent again, one with new tags: nothing the index filters by
        update_index(small_index, embedder, [replace(articles[0], tags=["تازه"])] + articles[1:])
    version = open_index(small_index)
    meta = json.loads((version.path / TANTIVY / "meta.json").read_text())
    assert not [segment for segment in meta["segments"] if segment.get("deletes")]
    with index_lock(small_index):
        update_index(small_index, embedder, [replace(articles[1], date="2020-01-02")])
    meta = json.loads((open_index(small_index).path / TANTIVY / "meta.json").read_text())
    assert [segment for segment in meta["segments"] if segment.get("deletes")]
