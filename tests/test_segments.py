"""Updates that write a segment (index.segments): the live version's databases linked, never copied; the version
read as one database with the same answers as a merged one; segments folded past the cap; damage refused."""
import logging
import os
import shutil
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index import append, segments
from index.changes import delete_articles
from index.info import describe
from index.pipeline import update_index
from index.store import IndexDamaged, index_lock, open_index, open_version, stored_articles
from index.tantivy_lexical import ROWS
from index.vectors.parts import indexes_of
from search.backends import LocalBackend, lexical_engine
from search.engine import SearchEngine
from tests.test_append_update import articles, base, updated_copy  # noqa: F401 (fixtures)

QUERIES = [("آلودگی هوا در تهران", {}), ("oil exports", {}), ("نمایشگاه کتاب", {"method": "lexical"}),
           ("قیمت نفت", {"method": "dense"}), ("تهران", {"category": "economy"}),
           ("خبر", {"date_from": "2020-01-01"}), ("ایران", {"method": "lexical", "category": "politics"})]


@pytest.fixture(autouse=True)
def segments_at_any_size(monkeypatch) -> None:
    monkeypatch.setattr(append, "SEGMENTS_FROM", 0)


def answers(index_dir: Path, embedder) -> list[list[tuple]]:
    """Each query's top 10 with tantivy, the lexical engine of every segmented version."""
    engine = SearchEngine(open_index(index_dir), embedder, backend=LocalBackend("tantivy"))
    return [[(r.article_id, r.passage_id, round(r.score, 5), r.text) for r in engine.search(q, k=10, **kw).results]
            for q, kw in QUERIES]


def test_added_articles_give_the_answers_of_a_merged_version(tmp_path, base, embedder, articles) -> None:
    adds = articles[16:19]
    segmented = tmp_path / "segmented"
    shutil.copytree(base, segmented, symlinks=True)
    live = open_index(segmented)
    with index_lock(segmented):
        update_index(segmented, embedder, adds, [])
    merged = updated_copy(base, tmp_path / "merged", embedder, adds, [], merge=True)
    version = open_index(segmented)
    (segment,) = version.manifest["segments"]
    for name in ("index.sqlite", "lexical.sqlite"):  # the live databases linked, not copied
        assert os.path.samefile(version.path / name, live.path / name)
    assert (version.path / segment).stat().st_size < (live.path / "index.sqlite").stat().st_size
    assert stored_articles(version) == stored_articles(open_index(merged))
    # the same rows in the same places: ids, BM25 statistics and scores agree exactly
    assert answers(segmented, embedder) == answers(merged, embedder)
    assert any(r[0] in {a.id for a in adds} for found in answers(segmented, embedder) for r in found)


def test_replaced_recategorized_and_deleted_articles_read_as_their_newest_rows(tmp_path, base, embedder, articles) -> None:
    marker = "زنبورستان"  # a word no sample article holds
    changed = replace(articles[3], text=f"{marker} {articles[3].text}")
    moved = replace(articles[4], cat="archive")
    index_dir = updated_copy(base, tmp_path / "index", embedder, [changed, moved, *articles[16:18]], [articles[5].id])
    version = open_index(index_dir)
    stored = stored_articles(version)
    assert stored[changed.id] == changed and stored[moved.id] == moved and articles[5].id not in stored
    # an article updated in place keeps its place in the archive; new ones come last
    assert list(stored) == [a.id for a in articles[:16] if a.id != articles[5].id] + [a.id for a in articles[16:18]]
    engine = SearchEngine(version, embedder)
    assert engine.lexical_engine == "tantivy"
    found = engine.search(marker, k=5, method="lexical").results
    assert found and found[0].article_id == changed.id
    archive = engine.search(moved.title, k=10, category="archive").results
    assert archive and {r.article_id for r in archive} == {moved.id}
    for result in engine.search(articles[5].title, k=20).results:
        assert result.article_id != articles[5].id and result.passage_id not in version.tombstones.passage_set


def test_segments_fold_past_the_cap_and_a_merge_writes_one_database(tmp_path, base, embedder, articles,
                                                                   monkeypatch) -> None:
    monkeypatch.setattr(append, "MAX_SEGMENTS", 3)
    for share in ("MERGE_APPENDED_SHARE", "MERGE_DELETED_SHARE"):  # every update appends, however much it adds
        monkeypatch.setattr(append, share, 1.0)
    index_dir = tmp_path / "index"
    shutil.copytree(base, index_dir, symlinks=True)
    counts, expected = [], {a.id: a for a in articles[:16]}
    for n, article in enumerate(articles[16:21]):
        edited = replace(articles[n], title=articles[n].title + " (به‌روز)")
        with index_lock(index_dir):
            update_index(index_dir, embedder, [article, edited], [])
        expected.update({article.id: article, edited.id: edited})
        version = open_index(index_dir)
        counts.append(len(version.manifest["segments"]))
        assert stored_articles(version) == {aid: expected[aid] for aid in [a.id for a in articles[:16 + n + 1]]}
    assert counts == [1, 2, 3, 2, 3]  # the fourth update folded all but the first into its own
    folded = answers(index_dir, embedder)
    with index_lock(index_dir):
        update_index(index_dir, embedder, [], [], merge=True)
    merged = open_index(index_dir)
    assert "segments" not in merged.manifest and stored_articles(merged) == stored_articles(version)
    # the same articles answer each query, and dense scores agree exactly; BM25's differ, since tantivy counts the
    # rows the updates replaced until the merge drops them (docs/design.md), so near-ties may swap places
    for (_, options), after, before in zip(QUERIES, answers(index_dir, embedder), folded):
        assert {r[0] for r in after} == {r[0] for r in before}
        if options.get("method") == "dense":
            assert [(r[0], r[2]) for r in after] == [(r[0], r[2]) for r in before]  # the merge renumbers passages


def test_a_deletion_after_a_segment_links_it(tmp_path, base, embedder, articles) -> None:
    index_dir = updated_copy(base, tmp_path / "index", embedder, articles[16:17], [])
    segmented = open_index(index_dir)
    with index_lock(index_dir):
        assert delete_articles(index_dir, segmented, [articles[16].id]) is not None
    after = open_index(index_dir)
    assert after.manifest["segments"] == segmented.manifest["segments"] and after.shares_files_with(segmented)
    assert articles[16].id in after.tombstones.articles and articles[16].id not in stored_articles(after)


def test_a_damaged_or_missing_segment_is_refused_by_name(tmp_path, base, embedder, articles) -> None:
    index_dir = updated_copy(base, tmp_path / "index", embedder, articles[16:17], [])
    version = open_index(index_dir)
    (segment,) = version.manifest["segments"]
    path = version.path / segment
    original = path.read_bytes()
    path.write_bytes(original[:len(original) // 2])
    with pytest.raises(IndexDamaged, match=segment):
        open_version(version.path)
    path.unlink()
    with pytest.raises(IndexDamaged, match=f"{segment} is missing"):
        open_version(version.path)


def test_fts5_asked_for_a_segmented_version_searches_with_tantivy(tmp_path, base, embedder, articles, caplog) -> None:
    version = open_index(updated_copy(base, tmp_path / "index", embedder, articles[16:17], []))
    assert lexical_engine("auto", version) == "tantivy"
    with caplog.at_level(logging.WARNING):
        assert lexical_engine("fts5", version) == "tantivy"
    assert "segments that FTS5 does not search" in caplog.text
    assert lexical_engine("fts5", open_index(base)) == "fts5"


def test_views_read_one_database_from_the_segments(tmp_path, base, embedder, articles) -> None:
    index_dir = updated_copy(base, tmp_path / "index", embedder, articles[16:18], [])
    version = open_index(index_dir)
    with closing(version.connect()) as db:
        passages = db.execute("SELECT count(*), min(id), max(id) FROM passages").fetchone()
        sentences = db.execute("SELECT count(*), max(rowid) FROM sentences").fetchone()
        lexical = db.execute("SELECT count(*) FROM lexical_content").fetchone()[0]
        plan = " ".join(row[3] for query in (
            "SELECT a.title FROM passages p JOIN articles a ON a.id = p.article_id WHERE p.id IN (1, 2)",
            ROWS + " WHERE p.id >= 40 ORDER BY p.id")  # what an update gives tantivy
            for row in db.execute(f"EXPLAIN QUERY PLAN {query}"))
    assert tuple(passages) == (version.manifest["passages"], 0, version.manifest["passages"] - 1)
    assert tuple(sentences) == (version.sentence_vectors.shape[0],) * 2
    assert lexical == version.manifest["passages"]
    # a lookup by id is an index search in every file, never a scan of the archive or a copy of a view
    assert "SCAN" not in plan and "MATERIALIZE" not in plan
    assert segments.segment_files(version.manifest) == version.manifest["segments"]
    assert describe(index_dir)["segments"] == 1


def served_arrays(engine: SearchEngine) -> tuple[list[tuple], dict[str, tuple]]:
    """What a server holds of a version, by article id rather than position: for each live passage its article,
    duplicate group, script, sentence spans, and filter category and day; for each article its facets."""
    owners, sentences, facts, where = (engine.arrays.articles, engine.arrays.sentences, engine.arrays.facts,
                                       engine._filter_index)
    ids, category = owners.article_ids, {code: cat for cat, code in where.codes.items()}
    live = [p for p in range(engine.arrays.passages) if engine.deleted is None or not engine.deleted[p]]
    passages = [(ids[owners.article_of[p]], ids[owners.group_of[p]], engine.arrays.scripts[p],
                 sentences.starts[sentences.first[p]:sentences.first[p + 1]].tolist(),
                 sentences.ends[sentences.first[p]:sentences.first[p + 1]].tolist(),
                 category[where.category_of[p]], int(where.day_of[p])) for p in live]
    by_article = {ids[a]: (facts.categories[facts.category[a]] if facts.category[a] >= 0 else None,
                           int(facts.year[a]), int(facts.solar_year[a])) for a in set(owners.article_of[live].tolist())}
    return passages, by_article


def test_a_server_following_segmented_updates_extends_what_it_read(tmp_path, base, embedder, articles,
                                                                   monkeypatch) -> None:
    """A server following an appending update reads only the rows the update's segments added (index.segments.
    rows_added), not every row again; what it then holds and answers must be what a server that read the new
    version from scratch holds and answers: through additions, re-embedded and recategorized articles, a
    duplicate joining an old article's group, deletions, and segments folded past the cap."""
    monkeypatch.setattr(append, "MAX_SEGMENTS", 3)
    for share in ("MERGE_APPENDED_SHARE", "MERGE_DELETED_SHARE"):
        monkeypatch.setattr(append, share, 1.0)
    index_dir = tmp_path / "index"
    shutil.copytree(base, index_dir, symlinks=True)
    backend = LocalBackend("tantivy")
    following = SearchEngine(open_index(index_dir), embedder, backend=backend)
    following.prepare()
    duplicate = replace(articles[2], id="fa-003-again", link="https://example.org/fa-003-again")
    steps = [([articles[16], replace(articles[3], text="زنبورستان " + articles[3].text),
               replace(articles[4], cat="archive", date="2021-03-21")], [articles[5].id]),
             ([duplicate, articles[17]], []),
             ([articles[18], replace(articles[6], cat="")], [articles[17].id]),
             # a deletion alone (a version sharing its files, which the next one extends), of science's every article
             ([], [articles[16].id, articles[0].id, articles[1].id]),
             ([articles[19]], []), ([articles[20], replace(articles[7], date=None)], []),
             ([articles[21]], [articles[2].id])]  # the duplicate's old passages leave the deleted article's group
    groups = []
    for upserts, deletions in steps:
        with index_lock(index_dir):
            update_index(index_dir, embedder, upserts, deletions)
        version = open_index(index_dir, load_vectors=False)  # as a server opens the version it follows
        follower = SearchEngine(version, embedder, backend=backend, previous=following)
        assert {"scripts", "articles", "sentences", "facts"} <= set(follower.arrays.__dict__)  # extended, not unread
        if upserts:  # the vector files it links are the ones the server holds, not read again
            assert indexes_of(follower.vectors)[0] is indexes_of(following.vectors)[0]
        follower.prepare()
        fresh = SearchEngine(open_index(index_dir), embedder, backend=backend)
        fresh.prepare()
        assert served_arrays(follower) == served_arrays(fresh)
        live, parameters = version.tombstones.excluded("id")  # the categories listed are the live articles'
        with closing(version.connect()) as db:
            stored = [row[0] for row in db.execute(f"SELECT DISTINCT cat FROM articles WHERE cat != ''{live} "
                                                   "ORDER BY cat", parameters)]
        assert follower.categories() == fresh.categories() == stored
        for query, options in QUERIES + [("زنبورستان", {"category": "archive"}), (articles[2].title, {})]:
            assert follower.search(query, k=10, **options).results == fresh.search(query, k=10, **options).results
        following = follower
        groups.append({article: group for article, group, *_ in served_arrays(follower)[0]})
    assert len(version.manifest["segments"]) < len(steps)  # the cap folded segments on the way
    assert not {"science", "sports"} & set(following.categories())  # deleted, or moved by an append (step 3)
    with index_lock(index_dir):
        update_index(index_dir, embedder, [articles[22]], [])
    newer = open_index(index_dir, load_vectors=False)
    with pytest.raises(IndexDamaged, match="do not follow"):  # ids that are not the next ones are refused
        newer.extend_vectors(following.version, np.arange(1, 3) + following.arrays.passages)
    assert groups[1][duplicate.id] == groups[1][articles[2].id] == articles[2].id
    assert groups[-1][duplicate.id] == duplicate.id
    with index_lock(index_dir):  # a merge renumbers the passages: everything is read again
        update_index(index_dir, embedder, [], [], merge=True)
    follower = SearchEngine(open_index(index_dir), embedder, backend=backend, previous=following)
    assert not {"scripts", "articles", "sentences", "facts"} & set(follower.arrays.__dict__)
    fresh = SearchEngine(open_index(index_dir), embedder, backend=backend)
    assert served_arrays(follower) == served_arrays(fresh)
