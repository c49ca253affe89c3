"""The index folder: versions switched only when complete, damage detected on open, one writer at a time."""
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import index.store as store
from index.articles import Article
from index.passages import Passage
from index.vectors.base import VectorBlocks
from index.pipeline import build_index
from index.rebuild import main as rebuild_main
from index.vectors.flat import FlatIndex
from index.store import IndexBusy, IndexDamaged, IndexMissing, index_lock, open_index, open_version
from search.engine import ModelMismatch, SearchEngine
from settings import Settings

ARTICLES = [
    Article(id="one", title="باران در تهران", text="باران شدید در تهران خیابان‌ها را پر از آب کرد."),
    Article(id="two", title="Chess", text="A young player from Rasht won the chess open."),
]


@pytest.fixture()
def built(tmp_path: Path, embedder) -> Path:
    index_dir = tmp_path / "index"
    with index_lock(index_dir):
        build_index(ARTICLES, index_dir, embedder)
    return index_dir


def copy_of_live(index_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(open_index(index_dir).path, target)
    return target


def test_manifest_records_model_counts_and_files(built: Path, embedder) -> None:
    version = open_index(built)
    manifest = version.manifest
    assert manifest["model"] == embedder.name and manifest["dimension"] == embedder.dimension
    assert manifest["articles"] == 2 and manifest["passages"] == version.vectors.count == 2
    assert set(manifest["files"]) >= {"vectors.faiss", "index.sqlite"}
    assert manifest["chunking"]["max_tokens"] > 0


def test_missing_index_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(IndexMissing, match="python -m index.rebuild"):
        open_index(tmp_path)


def test_truncated_vectors_are_detected(built: Path, tmp_path: Path) -> None:
    version = copy_of_live(built, tmp_path)
    data = (version / "vectors.faiss").read_bytes()
    (version / "vectors.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexDamaged, match="vectors.faiss"):
        open_version(version)


def test_missing_or_corrupt_database_is_detected(built: Path, tmp_path: Path) -> None:
    version = copy_of_live(built, tmp_path)
    database = version / "index.sqlite"
    size = database.stat().st_size
    database.write_bytes(b"\0" * size)
    with pytest.raises(IndexDamaged, match="index.sqlite"):
        open_version(version)
    database.unlink()
    with pytest.raises(IndexDamaged, match="index.sqlite is missing"):
        open_version(version)


def test_manifest_naming_another_dimension_is_detected(built: Path, tmp_path: Path) -> None:
    version = copy_of_live(built, tmp_path)
    manifest = json.loads((version / "manifest.json").read_text())
    (version / "manifest.json").write_text(json.dumps({**manifest, "dimension": 768}))
    with pytest.raises(IndexDamaged, match="768"):
        open_version(version)


def test_search_with_another_model_is_refused(built: Path) -> None:
    settings = replace(Settings.from_env(), model="sentence-transformers/some-other-model")
    with pytest.raises(ModelMismatch, match="some-other-model"):
        SearchEngine.open(built, settings)


def test_second_writer_is_refused(tmp_path: Path) -> None:
    with index_lock(tmp_path):
        with pytest.raises(IndexBusy, match="being rebuilt or updated"):
            with index_lock(tmp_path):
                pass


def test_failed_write_leaves_the_live_index_and_no_leftovers(built: Path, embedder, monkeypatch) -> None:
    live = open_index(built).path

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FlatIndex, "save", disk_full)
    with index_lock(built), pytest.raises(OSError, match="No space left"):
        build_index(ARTICLES[:1], built, embedder)
    assert open_index(built).path == live and open_index(built).manifest["articles"] == 2
    assert not list((built / "versions").glob(".tmp-*"))


def test_unwritable_index_folder_fails_cleanly(built: Path, embedder, monkeypatch) -> None:
    # tests run as root, for whom permission bits do not apply, so the refusal is injected where the
    # finished version is renamed into place
    live = open_index(built).path

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store.os, "rename", refuse)
    with index_lock(built), pytest.raises(PermissionError):
        build_index(ARTICLES[:1], built, embedder)
    monkeypatch.undo()
    assert open_index(built).path == live
    assert not list((built / "versions").glob(".tmp-*"))


def test_rebuild_switches_to_the_new_version(built: Path, embedder) -> None:
    before = open_index(built).path
    with index_lock(built):
        build_index(ARTICLES[:1], built, embedder)
    after = open_index(built)
    assert after.path != before and after.manifest["articles"] == 1


def test_rebuild_command_with_nothing_readable_keeps_the_index(built: Path, tmp_path: Path, capsys) -> None:
    live = open_index(built).path
    (tmp_path / "empty.json").write_text("[]")
    assert rebuild_main([str(tmp_path / "empty.json"), str(tmp_path / "missing.csv"), "--index", str(built), "--quiet"]) == 1
    assert "live index is unchanged" in capsys.readouterr().err
    assert open_index(built).path == live


@pytest.mark.model  # the rebuild command loads the model itself
def test_rebuild_command_reports_summary_and_throughput(tmp_path: Path, capsys) -> None:
    source = tmp_path / "articles.jsonl"
    source.write_text("\n".join([
        json.dumps({"id": "a", "title": "Title", "text": "Some text about rain in Tehran."}),
        json.dumps({"id": "b", "title": 5, "text": "wrong type of title"}),
    ]))
    index_dir = tmp_path / "index"
    assert rebuild_main([str(source), "--index", str(index_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "articles read: 2, indexed: 1, skipped: 1" in out and "passages/s" in out
    assert open_index(index_dir).manifest["articles"] == 1


def test_vectors_are_written_block_by_block_and_counted(tmp_path: Path) -> None:
    """A rebuild hands its vectors over shard by shard; blocks that do not add up are refused before the switch."""
    articles = [Article("a", "عنوان", "جمله نخست. جمله دوم."), Article("b", "", "one sentence")]
    passages = [Passage("a", 0, 0, 20, articles[0].text, ((0, 11), (11, 20))), Passage("b", 0, 0, 12, articles[1].text, ((0, 12),))]
    vectors = np.eye(2, 4, dtype=np.float32)
    sentences = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    with index_lock(tmp_path):
        first = store.write_version(tmp_path, articles, passages, VectorBlocks(2, 4, lambda: [vectors[:1], vectors[1:]]),
                                    VectorBlocks(3, 4, lambda: [sentences[:2], sentences[2:]]), "test-model", {})
    version = open_index(tmp_path)
    assert np.array_equal(version.sentence_vectors[:], sentences.astype(np.float16))
    assert np.array_equal(version.vectors.vectors(np.arange(2)), vectors)
    for wrong in ([sentences[:2]], [sentences[:2], sentences[1:]], [sentences[:, :3]]):
        with index_lock(tmp_path), pytest.raises(ValueError, match="sentence vectors"):
            store.write_version(tmp_path, articles, passages, vectors, VectorBlocks(3, 4, lambda: wrong), "test-model", {})
        assert (tmp_path / "current").resolve() == first
        assert [path.name for path in (tmp_path / "versions").iterdir()] == [first.name]


def test_versions_written_within_a_second_keep_the_live_one_and_the_one_before(tmp_path: Path) -> None:
    """The old versions removed are the oldest by when they were made, however quickly versions follow."""
    articles = [Article("a", "عنوان", "جمله نخست.")]
    passages = [Passage("a", 0, 0, 10, articles[0].text, ((0, 10),))]
    made = []
    for n in range(6):  # well within a second: with ids of whole seconds, their order was the random suffix's
        with index_lock(tmp_path):
            made.append(store.write_version(tmp_path, articles, passages, np.eye(1, 4, n % 4, dtype=np.float32),
                                            np.ones((1, 4), dtype=np.float32), "test-model", {}))
    assert sorted(path.name for path in made) == [path.name for path in made]
    assert sorted(path.name for path in (tmp_path / "versions").iterdir()) == [made[-2].name, made[-1].name]
    assert (tmp_path / "current").resolve() == made[-1]
