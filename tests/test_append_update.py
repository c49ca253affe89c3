"""Updates that append to a copy of the live version: the same answers as a merged version, nothing dead shown."""
import errno
import os
import shutil
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index import append
from index.articles import Article, read_articles
from index.changes import delete_articles
from index.durable import copy_file
from index.info import describe
from index.sentence_parts import SentenceVectors
from index.pipeline import build_index, update_index
from index.store import index_lock, open_index, stored_articles
from search.engine import SearchEngine
from search import related
from search.related import article as article_view

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "articles.jsonl"
QUERIES = [("آلودگی هوا در تهران", {}), ("oil exports", {}), ("نمایشگاه کتاب", {"method": "lexical"}),
           ("قیمت نفت", {"method": "dense"}), ("تهران", {"category": "economy"}),
           ("خبر", {"date_from": "2020-01-01"})]


@pytest.fixture(scope="module")
def articles() -> list[Article]:
    return read_articles([SAMPLE])


@pytest.fixture(scope="module")
def base(tmp_path_factory, embedder, articles) -> Path:
    index_dir = tmp_path_factory.mktemp("append-base")
    with index_lock(index_dir):
        build_index(articles[:16], index_dir, embedder)
    return index_dir


def updated_copy(base: Path, target: Path, embedder, upserts, deletions, merge: bool = False) -> Path:
    shutil.copytree(base, target, symlinks=True)
    with index_lock(target):
        update_index(target, embedder, upserts, deletions, merge=merge)
    return target


def answers(index_dir: Path, embedder) -> list[list[tuple]]:
    engine = SearchEngine(open_index(index_dir), embedder)
    return [[(r.article_id, r.passage_id, round(r.score, 5), r.text) for r in engine.search(q, k=10, **kw).results]
            for q, kw in QUERIES]


def test_added_articles_give_the_answers_of_a_merged_version(tmp_path, base, embedder, articles) -> None:
    adds = articles[16:19]
    appended = updated_copy(base, tmp_path / "appended", embedder, adds, [], merge=False)
    merged = updated_copy(base, tmp_path / "merged", embedder, adds, [], merge=True)
    manifest = open_index(appended).manifest
    assert manifest["appended"] > 0 and "appended" not in open_index(merged).manifest
    # the same rows in the same places: ids, BM25 statistics and scores agree exactly
    assert answers(appended, embedder) == answers(merged, embedder)
    assert any(r[0] in {a.id for a in adds} for found in answers(appended, embedder) for r in found)


def test_replaced_and_deleted_articles_leave_no_dead_passage_in_answers(tmp_path, base, embedder, articles) -> None:
    target = articles[3]
    marker = "زنبورستان"  # a word no sample article holds
    changed = replace(target, text=f"{marker} {target.text}")
    deleted = articles[5].id
    with_marker = updated_copy(base, tmp_path / "with-marker", embedder, [changed], [], merge=False)
    version = open_index(with_marker)
    old_passages = len(version.tombstones.passages)
    assert old_passages > 0 and not version.tombstones.articles  # the article is live, its old passages dead
    gone = replace(target, text=target.text.replace(target.text.split()[0], "", 1))
    with index_lock(with_marker):
        update_index(with_marker, embedder, [gone], [deleted])
    version = open_index(with_marker)
    assert "appended" in version.manifest and deleted in version.tombstones.articles
    engine = SearchEngine(version, embedder)
    for query in (marker, target.title, articles[5].title):
        for method in ("hybrid", "lexical", "dense"):
            for result in engine.search(query, k=20, method=method).results:
                assert result.passage_id not in version.tombstones.passage_set
                assert result.article_id != deleted
                assert marker not in result.text
    view = article_view(engine, target.id, query=target.title)
    assert view.text == gone.text and view.matched_passages
    shown = related._passages(engine, target.id)  # what the article page and "similar" read
    assert shown and all(row["id"] not in version.tombstones.passage_set and marker not in row["text"] for row in shown)
    assert [row["position"] for row in shown] == list(range(len(shown)))


def test_an_update_appends_until_dead_or_appended_passages_pile_up(tmp_path, base, embedder, articles, monkeypatch) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(base, index_dir, symlinks=True)
    passages = open_index(index_dir).manifest["passages"]
    monkeypatch.setattr(append, "MERGE_APPENDED_SHARE", 0.15)
    kinds, written = [], []
    for article in articles[16:22]:
        with index_lock(index_dir):
            written.append(update_index(index_dir, embedder, [article], []).written)
        kinds.append("appended" in open_index(index_dir).manifest)
    assert kinds[0] and not all(kinds)  # appended first, merged once the appended share passed 15 %
    assert written[kinds.index(False)].startswith("merged: ") and "appended since its last merge" in written[kinds.index(False)]
    assert written[0] == "appended to a copy of the live version"
    assert open_index(index_dir).live_passages > passages


def test_an_appended_version_holds_every_passage_once(tmp_path, base, embedder, articles) -> None:
    before = open_index(base)
    appended = updated_copy(base, tmp_path / "appended", embedder, [replace(articles[0], text=articles[0].text + " پایان.")]
                            + articles[16:17], [], merge=False)
    version = open_index(appended)
    passages = version.manifest["passages"]
    assert passages > before.manifest["passages"]
    assert np.array_equal(np.sort(version.vectors.ids()), np.arange(passages))
    with closing(version.connect()) as db:
        sentences = db.execute("SELECT count(*), min(rowid), max(rowid) FROM sentences").fetchone()
    assert tuple(sentences) == (version.sentence_vectors.shape[0], 1, version.sentence_vectors.shape[0])
    # the live version's sentence vectors come first, unchanged, in the appended file
    assert np.array_equal(version.sentence_vectors[:before.sentence_vectors.shape[0]], before.sentence_vectors[:])


@pytest.mark.parametrize("kernel_copies", [True, False])
def test_copy_file_gives_the_same_bytes_with_or_without_copy_file_range(tmp_path, monkeypatch, kernel_copies) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(np.random.default_rng(1).bytes(3 * (1 << 20) + 17))
    if not kernel_copies:
        def refuse(*args):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        monkeypatch.setattr(os, "copy_file_range", refuse)
    copy_file(source, tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == source.read_bytes()


def test_sentence_vectors_read_as_one_array_across_parts(tmp_path) -> None:
    rng = np.random.default_rng(3)
    arrays = [rng.random((n, 4)).astype(np.float16) for n in (5, 1, 3)]
    for n, array in enumerate(arrays):
        np.save(tmp_path / f"part-{n}.npy", array)
    whole = np.concatenate(arrays)
    vectors = SentenceVectors.load(tmp_path, [f"part-{n}.npy" for n in range(3)])
    assert vectors.shape == whole.shape and len(vectors) == 9
    for rows in ([8, 0, 5, 5, 6], np.array([], dtype=np.int64), slice(4, 7), slice(None)):
        assert np.array_equal(vectors[rows], whole[rows])
    with pytest.raises(IndexError):
        vectors[[9]]
    (tmp_path / "part-0.npy").write_bytes((tmp_path / "part-0.npy").read_bytes()[:-1])
    with pytest.raises(ValueError, match="part-0.npy holds"):
        SentenceVectors.load(tmp_path, ["part-0.npy"])
    np.save(tmp_path / "wide.npy", rng.random((2, 5)).astype(np.float16))
    with pytest.raises(ValueError, match="different widths"):
        SentenceVectors.load(tmp_path, ["part-1.npy", "wide.npy"])


def test_appended_vectors_link_the_live_files_and_fold_past_the_cap(tmp_path, base, embedder, articles,
                                                                   monkeypatch) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(base, index_dir, symlinks=True)
    monkeypatch.setattr(append, "MAX_PARTS", 2)
    expected = open_index(index_dir).sentence_vectors[:]
    first = open_index(index_dir)
    expected_vectors = first.vectors.vectors(np.arange(first.manifest["passages"]))
    counts, totals = [], [first.manifest["passages"]]
    for article in articles[16:20]:
        live = open_index(index_dir).path
        live_files = [os.stat(live / name) for name in ("sentences.npy", "vectors.faiss")]
        with index_lock(index_dir):
            update_index(index_dir, embedder, [article], [])
        version = open_index(index_dir)
        parts, vector_parts = version.manifest["sentence_parts"], version.manifest["vector_parts"]
        counts.append((len(parts), len(vector_parts)))
        for name, live_file in zip(("sentences.npy", "vectors.faiss"), live_files):
            assert os.path.samestat(os.stat(version.path / name), live_file)  # linked, not copied
        added = version.sentence_vectors[expected.shape[0]:]
        expected = np.concatenate([expected, added])
        assert np.array_equal(version.sentence_vectors[:], expected)
        ids = np.arange(version.manifest["passages"])
        totals.append(len(ids))
        expected_vectors = np.concatenate([expected_vectors, version.vectors.vectors(ids[len(expected_vectors):])])
        assert np.array_equal(version.vectors.vectors(ids), expected_vectors)
    assert counts == [(1, 1), (2, 2), (1, 1), (2, 2)]  # the third update folded the two parts into its own
    assert [part["first"] for part in version.manifest["vector_parts"]] == [totals[0], totals[3]]
    with index_lock(index_dir):
        update_index(index_dir, embedder, [], [], merge=True)
    merged = open_index(index_dir)
    assert "sentence_parts" not in merged.manifest and len(merged.sentence_vectors.parts) == 1
    assert "vector_parts" not in merged.manifest
    assert merged.sentence_vectors.shape == expected.shape


def test_info_shows_what_decides_the_next_merge(tmp_path, base, embedder, articles) -> None:
    changed = replace(articles[2], text=articles[2].text + " این بند تازه است.")
    index_dir = updated_copy(base, tmp_path / "index", embedder, [changed] + articles[16:17], [], merge=False)
    facts = describe(index_dir)
    version = open_index(index_dir)
    assert facts["dead_passages"] == len(version.tombstones.passages) > 0
    assert facts["appended_passages"] == version.manifest["passages"] - open_index(base).manifest["passages"] > 0
    assert facts["passages"] == version.manifest["passages"] - facts["dead_passages"]
    with index_lock(index_dir):
        update_index(index_dir, embedder, [], [], merge=True)
    merged = describe(index_dir)
    assert merged["dead_passages"] == merged["appended_passages"] == 0 and merged["passages"] == facts["passages"]


def test_a_deletion_after_an_append_links_every_part(tmp_path, base, embedder, articles) -> None:
    index_dir = updated_copy(base, tmp_path / "index", embedder, articles[16:17], [], merge=False)
    appended = open_index(index_dir)
    (part,) = appended.manifest["sentence_parts"]
    with index_lock(index_dir):
        assert delete_articles(index_dir, appended, [articles[0].id]) is not None
    after = open_index(index_dir)
    assert after.manifest["sentence_parts"] == [part] and after.shares_files_with(appended)
    assert np.array_equal(after.sentence_vectors[:], appended.sentence_vectors[:])
    assert articles[0].id in after.tombstones.articles


def test_an_approximate_index_is_linked_and_new_vectors_go_to_a_part(tmp_path, embedder, articles) -> None:
    index_dir = tmp_path / "index"
    with index_lock(index_dir):
        build_index(articles[:20], index_dir, embedder, vector_index="ivf")
        before = open_index(index_dir)
        ivf_file = os.stat(before.path / "vectors.ivf")
        update_index(index_dir, embedder, [replace(articles[0], cat="archive")], [], vector_index="ivf")
        recategorized = open_index(index_dir)
        assert os.path.samefile(recategorized.path / "vectors.ivf", before.path / "vectors.ivf")  # linked, not rewritten
        update_index(index_dir, embedder, [articles[21]], [], vector_index="ivf")
    version = open_index(index_dir)
    assert version.manifest["vector_index"] == "ivf" and "appended" in version.manifest
    assert version.vectors.count == version.manifest["passages"] > recategorized.manifest["passages"]
    assert version.manifest["vector_parameters"] == before.manifest["vector_parameters"]  # the trained lists kept
    assert os.path.samestat(os.stat(version.path / "vectors.ivf"), ivf_file)  # the new vectors went to a part
    (part,) = version.manifest["vector_parts"]
    assert part["first"] == recategorized.manifest["passages"] and (version.path / part["file"]).is_file()
    found, _ = version.vectors.search(embedder.embed_queries([articles[21].title]), 3)
    with closing(version.connect()) as db:
        article_of = dict(db.execute("SELECT id, article_id FROM passages").fetchall())
    assert article_of[int(found[0][0])] == articles[21].id
    engine = SearchEngine(version, embedder)
    assert engine.search(articles[0].title, k=5, category="archive").results[0].article_id == articles[0].id


def test_an_article_deleted_then_sent_again_is_live_once(tmp_path, base, embedder, articles) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(base, index_dir, symlinks=True)
    again = articles[4]
    with index_lock(index_dir):
        delete_articles(index_dir, open_index(index_dir), [again.id])
        assert again.id in open_index(index_dir).tombstones.articles
        result = update_index(index_dir, embedder, [again], [])
    assert result.added == [again.id]  # a deleted article is new again, embedded again
    version = open_index(index_dir)
    assert again.id not in version.tombstones.articles and "appended" in version.manifest
    engine = SearchEngine(version, embedder)
    live = related._passages(engine, again.id)
    assert live and all(row["id"] >= open_index(base).manifest["passages"] for row in live)  # the new passages only
    assert engine.search(again.title, k=3, method="lexical").results[0].article_id == again.id
    assert stored_articles(version)[again.id] == again
