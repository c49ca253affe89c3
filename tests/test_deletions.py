"""Deleting articles by tombstones: a new version that hard-links the live one's files, whose searches, pages
and counts never show the deleted articles, and which a merge (``--rewrite``) or any update writes out."""
from __future__ import annotations

import gc
import json
import os
import shutil
import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index.errors import IndexDamaged
from index.filter import Filter
from index.store import open_index, open_version, stored_articles
from index.tombstones import MERGE_DELETED_SHARE, TOMBSTONES
from index.update import main as update_main
from search import related
from search.engine import SearchEngine
from search.live import LiveEngine
from settings import Settings
from tests.test_live_index import followed, switched


@pytest.fixture
def index_copy(sample_index: Path, tmp_path: Path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(sample_index, target, symlinks=True)
    return target


def smallest_articles(index_dir: Path, count: int) -> list[str]:
    """Ids of the ``count`` articles with the fewest passages (deleting them stays under the merge share)."""
    version = open_index(index_dir, load_vectors=False)
    with version.connect() as db:
        rows = db.execute("SELECT article_id FROM passages GROUP BY article_id ORDER BY count(*), article_id").fetchall()
    return [row[0] for row in rows[:count]]


def delete(index_dir: Path, *article_ids: str) -> int:
    return update_main(["--delete", *article_ids, "--index", str(index_dir), "--quiet"])


def test_a_deletion_links_the_live_files_and_writes_only_tombstones(index_copy: Path) -> None:
    before = open_index(index_copy)
    gone = smallest_articles(index_copy, 2)
    assert delete(index_copy, *gone) == 0
    after = open_version(open_index(index_copy).path, verify_checksums=True)
    assert after.path != before.path and after.lineage == before.lineage
    for name in before.manifest["files"]:
        assert os.path.samefile(after.path / name, before.path / name), name  # linked, not copied
    assert set(after.manifest["files"]) == set(before.manifest["files"]) | {TOMBSTONES}
    assert after.tombstones.articles == set(gone)
    assert after.live_articles == before.manifest["articles"] - 2
    with after.connect() as db:
        expected = sorted(row[0] for row in db.execute(
            "SELECT id FROM passages WHERE article_id IN (?, ?)", gone))
    assert after.tombstones.passages.tolist() == expected and after.live_passages == after.manifest["passages"] - len(expected)
    assert set(stored_articles(after)) == set(stored_articles(before)) - set(gone)


def test_deleted_articles_are_never_found(index_copy: Path, embedder) -> None:
    gone = smallest_articles(index_copy, 1)[0]
    before = SearchEngine(open_index(index_copy), embedder)
    title, category = before.db.execute("SELECT title, cat FROM articles WHERE id = ?", [gone]).fetchone()
    found_before = before.search(title, k=5, method="lexical").results
    assert gone in [r.article_id for r in found_before]  # its own title finds it while it is there
    assert delete(index_copy, gone) == 0
    engine = SearchEngine(open_index(index_copy), embedder)
    for method in ("dense", "lexical", "hybrid"):
        for kwargs in ({}, {"category": category}):
            response = engine.search(title, k=50, method=method, **kwargs)
            assert gone not in [r.article_id for r in response.results], (method, kwargs)
    assert related.article(engine, gone) is None and related.similar(engine, gone) is None
    for neighbour in related.similar(engine, smallest_articles(index_copy, 2)[1]) or []:
        assert neighbour.article_id != gone
    assert engine.info()["articles"] == before.info()["articles"] - 1
    # the dense ranking is that of the index without the article: the same vectors, the deleted one left out
    expected = [r.article_id for r in before.search(title, k=20, method="dense").results if r.article_id != gone]
    assert [r.article_id for r in engine.search(title, k=19, method="dense").results] == expected[:19]


def test_a_merge_writes_the_index_without_its_tombstones(index_copy: Path) -> None:
    gone = smallest_articles(index_copy, 2)
    delete(index_copy, *gone)
    assert update_main(["--rewrite", "--index", str(index_copy), "--quiet"]) == 0
    merged = open_index(index_copy)
    assert TOMBSTONES not in merged.manifest["files"] and not merged.tombstones
    assert merged.manifest["articles"] == merged.live_articles
    assert not set(gone) & set(stored_articles(merged))


def test_deleting_an_already_deleted_article_changes_nothing(index_copy: Path, capsys) -> None:
    gone = smallest_articles(index_copy, 1)
    delete(index_copy, *gone)
    live = open_index(index_copy).path
    assert delete(index_copy, *gone) == 0
    assert open_index(index_copy).path == live
    assert f"cannot delete {gone[0]}" in capsys.readouterr().err


def test_deleting_a_large_share_merges_instead(index_copy: Path) -> None:
    before = open_index(index_copy)
    with before.connect() as db:
        ids = [row[0] for row in db.execute("SELECT id FROM articles ORDER BY id")]
    many = ids[: int(len(ids) * MERGE_DELETED_SHARE) + 2]
    assert delete(index_copy, *many) == 0
    after = open_index(index_copy)
    assert not after.tombstones and after.manifest["articles"] == len(ids) - len(many)


def test_a_changed_tombstones_file_is_refused(index_copy: Path) -> None:
    delete(index_copy, *smallest_articles(index_copy, 1))
    path = open_index(index_copy).path / TOMBSTONES
    text = path.read_text()
    last = max(i for i, char in enumerate(text) if char.isdigit())
    changed = text[:last] + str((int(text[last]) + 1) % 10) + text[last + 1:]  # same counts, same size
    path.unlink()  # a link of its own, so that the edit cannot reach another version
    path.write_text(changed)
    with pytest.raises(IndexDamaged, match=TOMBSTONES):
        open_index(index_copy)


def test_an_update_after_a_deletion_keeps_the_article_deleted(index_copy: Path, tmp_path: Path) -> None:
    gone = smallest_articles(index_copy, 1)[0]
    delete(index_copy, gone)
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"id": "fresh-1", "title": "خبر تازه", "text": "متن خبر تازه درباره بارش برف در تهران."},
                              ensure_ascii=False), encoding="utf-8")
    assert update_main([str(new), "--index", str(index_copy), "--quiet"]) == 0
    after = open_index(index_copy)
    assert gone in after.tombstones.articles and "appended" in after.manifest  # it appended: the tombstone stays
    assert "fresh-1" in stored_articles(after) and gone not in stored_articles(after)
    assert update_main(["--rewrite", "--index", str(index_copy), "--quiet"]) == 0
    merged = open_index(index_copy)
    assert not merged.tombstones and "appended" not in merged.manifest  # a merge writes the version without it
    assert stored_articles(merged) == stored_articles(after)


def test_no_filter_keeps_a_deleted_passage(index_copy: Path, embedder) -> None:
    gone = smallest_articles(index_copy, 1)[0]
    delete(index_copy, gone)
    engine = SearchEngine(open_index(index_copy), embedder)
    deleted = engine.version.tombstones.passages
    assert engine.deleted is not None and engine.deleted[deleted].all() and engine.deleted.sum() == len(deleted)
    category = engine.db.execute("SELECT cat FROM articles WHERE id = ?", [gone]).fetchone()[0]
    allowed = engine._allowed_ids(Filter(category=category))
    assert len(allowed) and not np.isin(deleted, allowed).any()


def test_a_file_system_without_hard_links_copies_instead(index_copy: Path, monkeypatch, caplog) -> None:
    def refuse(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)
    before = open_index(index_copy)
    gone = smallest_articles(index_copy, 1)
    assert delete(index_copy, *gone) == 0
    after = open_index(index_copy)
    assert after.tombstones.articles == set(gone) and after.live_articles == before.live_articles - 1
    assert not after.shares_files_with(before)
    assert "cannot hard-link" in caplog.text and "copying the version's files instead" in caplog.text
    assert [path.name for path in (index_copy / "versions").glob(".tmp-*")] == []


def test_a_server_follows_a_deletion_with_what_it_already_read(index_copy: Path, embedder) -> None:
    """A deletion's version shares the live one's files, so the server's new engine reuses its arrays, loaded
    vectors and query cache instead of reading them again (seconds at 10^5 passages); a merge's does not."""
    live = LiveEngine(index_copy, replace(Settings.from_env(), model=embedder.name), check_seconds=0)
    old = live.get()
    old.arrays.read_all()
    old.search("news", k=3)
    gone = smallest_articles(index_copy, 1)[0]
    title = old.db.execute("SELECT title FROM articles WHERE id = ?", [gone]).fetchone()[0]
    assert delete(index_copy, gone) == 0
    new = switched(live, old.version.path)
    assert new.version.path != old.version.path and new.version.tombstones.articles == {gone}
    assert new.vectors is old.vectors and new.query_vectors is old.query_vectors
    assert new.arrays.articles is old.arrays.articles and new.arrays.sentences is old.arrays.sentences
    assert new.arrays.facts is old.arrays.facts
    assert new._filter_index.category_of is old._filter_index.category_of and new._filter_index.deleted is new.deleted
    for method in ("dense", "lexical", "hybrid"):
        assert gone not in [r.article_id for r in new.search(title, k=50, method=method).results]
    freed = weakref.ref(old.version)
    followed(live)  # the follower's thread has let go of everything it held
    gc.disable()  # as the server runs: the replaced engine must go by reference counting alone
    try:
        del old
        assert freed() is None
    finally:
        gc.enable()
    assert update_main(["--rewrite", "--index", str(index_copy), "--quiet"]) == 0
    merged = switched(live, new.version.path)
    assert merged.version.path != new.version.path and not merged.version.tombstones
    assert merged.vectors is not new.vectors and merged.arrays.articles is not new.arrays.articles
