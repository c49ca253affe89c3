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
from index.durable import copy_file
from index.info import describe
from index.pipeline import build_index, update_index
from index.store import index_lock, open_index
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


def updated_copy(base: Path, target: Path, embedder, upserts, deletions, merge: bool) -> Path:
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
    kinds = []
    for article in articles[16:22]:
        with index_lock(index_dir):
            update_index(index_dir, embedder, [article], [])
        kinds.append("appended" in open_index(index_dir).manifest)
    assert kinds[0] and not all(kinds)  # appended first, merged once the appended share passed 15 %
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
    assert np.array_equal(version.sentence_vectors[:before.sentence_vectors.shape[0]], before.sentence_vectors)


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


@pytest.mark.parametrize("header_bytes", [None, 192])
def test_sentence_vectors_are_appended_after_the_stored_ones(tmp_path, header_bytes) -> None:
    stored = np.arange(12, dtype=np.float16).reshape(3, 4)
    source = tmp_path / "sentences.npy"
    if header_bytes is None:
        np.save(source, stored)
    else:  # a header longer than numpy writes today: the rows must be copied after the new, shorter one
        text = "{'descr': '<f2', 'fortran_order': False, 'shape': (3, 4), }"
        source.write_bytes(b"\x93NUMPY\x01\x00" + (header_bytes - 10).to_bytes(2, "little")
                           + text.ljust(header_bytes - 11).encode() + b"\n" + stored.tobytes())
        assert np.array_equal(np.load(source), stored)
    added = [np.full((2, 4), 7, dtype=np.float32), np.zeros((0, 4), dtype=np.float32), np.ones((1, 4), dtype=np.float32)]
    append._append_sentence_vectors(source, tmp_path / "appended.npy", added, 4)
    assert np.array_equal(np.load(tmp_path / "appended.npy"), np.concatenate([stored, *added]).astype(np.float16))


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
