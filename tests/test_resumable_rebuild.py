"""Resumable rebuilds: a rebuild stopped after some shards resumes from them and ends with the index an
uninterrupted rebuild writes; shards cut in worker processes equal shards cut in this one."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import index.cutting as cutting
from index.articles import Article, read_articles
from index.checkpoints import BUILDS, BuildCheckpoint, Shard
from index.cutting import ShardCutter
from index.passages import Passage
from index.pipeline import build_index
from index.rewrite import stored_passages
from index.store import index_lock, open_index, remove_leftovers

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "articles.jsonl"
QUERIES = ["آلودگی هوا در تهران", "oil exports", "نمایشگاه کتاب", "chess tournament"]
SHARD = 5  # articles per shard: the 24 sample articles make 5 shards


class Interrupted(Exception):
    pass


class EmbeddingSeam:
    """The embedder's own embedding step, counting its calls and failing on call ``fail_at`` (1-based),
    as a Ctrl-C or a full disk would stop a rebuild."""

    def __init__(self, embedder, fail_at: int | None = None) -> None:
        self.embedder = embedder
        self.fail_at = fail_at
        self.calls = 0

    def __call__(self, texts, sentences, progress=False):
        self.calls += 1
        if self.calls == self.fail_at:
            raise Interrupted(f"stopped at shard {self.calls}")
        return self.embedder.embed_passages(texts, sentences, progress)


@pytest.fixture(scope="module")
def sample_articles() -> list[Article]:
    return read_articles([SAMPLE])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, sample_articles, embedder) -> Path:
    index_dir = tmp_path_factory.mktemp("uninterrupted")
    with index_lock(index_dir):
        build_index(sample_articles, index_dir, embedder, shard_articles=SHARD)
    return index_dir


def contents(index_dir: Path) -> tuple[list[tuple], np.ndarray, np.ndarray]:
    """Every passage in index order with its passage vector, and every sentence vector."""
    by_article = stored_passages(open_index(index_dir))
    passages = [(p.article_id, p.position, p.start, p.end, p.text, p.sentences)
                for items, _, _ in by_article.values() for p in items]
    vectors = np.concatenate([v for _, v, _ in by_article.values()])
    sentence_vectors = np.concatenate([s for _, _, s in by_article.values()])
    return passages, vectors, sentence_vectors


def top_passages(index_dir: Path, embedder, query: str) -> list[int]:
    ids, _ = open_index(index_dir).vectors.search(embedder.embed_queries([query]), 5)
    return ids[0].tolist()


def shard_files(index_dir: Path) -> list[Path]:
    return sorted((index_dir / BUILDS).glob("*/shard-*.npz"))


def test_a_stopped_rebuild_resumes_and_equals_an_uninterrupted_one(tmp_path, sample_articles, uninterrupted, embedder, caplog) -> None:
    index_dir = tmp_path / "index"
    with index_lock(index_dir):
        live = build_index(sample_articles[:3], index_dir, embedder).version
        with pytest.raises(Interrupted):
            build_index(sample_articles, index_dir, embedder, shard_articles=SHARD,
                        embed_passages=EmbeddingSeam(embedder, fail_at=3))
        assert open_index(index_dir).path == live  # the live index is untouched and still verifies
        assert len(shard_files(index_dir)) == 2
        seam = EmbeddingSeam(embedder)
        with caplog.at_level("INFO", logger="index.pipeline"):
            build_index(sample_articles, index_dir, embedder, shard_articles=SHARD, embed_passages=seam)
    assert seam.calls == 3  # only the shards not finished before
    assert "resuming: 2 of 5 shards already done" in caplog.text
    assert not (index_dir / BUILDS).exists()  # the checkpoint goes once its version is live

    passages, vectors, sentence_vectors = contents(index_dir)
    expected_passages, expected_vectors, expected_sentences = contents(uninterrupted)
    assert passages == expected_passages
    np.testing.assert_allclose(vectors, expected_vectors, atol=1e-2)  # bf16 rounding at most
    np.testing.assert_allclose(sentence_vectors, expected_sentences, atol=1e-2)
    for query in QUERIES:
        assert top_passages(index_dir, embedder, query) == top_passages(uninterrupted, embedder, query)


def test_a_checkpoint_of_other_sources_is_not_reused(tmp_path, sample_articles, embedder) -> None:
    index_dir = tmp_path / "index"
    with index_lock(index_dir):
        with pytest.raises(Interrupted):
            build_index(sample_articles[:10], index_dir, embedder, shard_articles=SHARD,
                        embed_passages=EmbeddingSeam(embedder, fail_at=2))
        stale = shard_files(index_dir)
        assert len(stale) == 1
        changed = [replace(sample_articles[0], text="متن تازه‌ای برای آزمون."), *sample_articles[1:10]]
        seam = EmbeddingSeam(embedder)
        build_index(changed, index_dir, embedder, shard_articles=SHARD, embed_passages=seam)
    assert seam.calls == 2  # the first shard's article changed: nothing is reused
    assert not stale[0].exists()
    assert open_index(index_dir).manifest["articles"] == 10


def test_a_damaged_or_unfinished_shard_is_done_again(tmp_path) -> None:
    articles = [Article(id="a", title="", text="one. two."), Article(id="b", title="", text="three.")]
    passages = [Passage("a", 0, 0, 9, "one. two.", ((0, 4), (5, 9))), Passage("b", 0, 0, 6, "three.", ((0, 6),))]
    shard = Shard(passages, np.ones((2, 4), dtype=np.float32), np.full((3, 4), 0.5, dtype=np.float32))
    checkpoint = BuildCheckpoint.open(tmp_path, "key")
    checkpoint.save(0, shard)
    loaded = checkpoint.load(0, articles)
    assert loaded.passages == passages
    np.testing.assert_array_equal(loaded.sentence_vectors, shard.sentence_vectors)

    data = checkpoint.path(0).read_bytes()
    checkpoint.path(0).write_bytes(data[: len(data) // 2])  # as a disk that filled up might leave it
    assert checkpoint.load(0, articles) is None
    assert not checkpoint.path(0).exists()
    (checkpoint.folder / ".tmp-shard-000001.npz").write_bytes(b"half")
    BuildCheckpoint.open(tmp_path, "key")
    assert list(checkpoint.folder.iterdir()) == []


def test_shards_cut_in_worker_processes_equal_shards_cut_here(sample_articles, embedder, monkeypatch) -> None:
    monkeypatch.setattr(cutting, "PARALLEL_MIN_ARTICLES", 0)
    groups = [sample_articles[i:i + SHARD] for i in range(0, len(sample_articles), SHARD)]
    with ShardCutter(embedder.count_tokens, embedder.backend.token_core, 48, 8, workers=1) as cutter:
        here = list(cutter.cut(groups, len(sample_articles)))
    with ShardCutter(embedder.count_tokens, embedder.backend.token_core, 48, 8, workers=2) as cutter:
        in_workers = list(cutter.cut(groups, len(sample_articles)))
        assert cutter.pool is not None  # the workers really cut them
    assert in_workers == here
    assert sum(len(shard.passages) for shard in here) > len(sample_articles)  # long articles made several


def test_cleaning_up_after_an_interrupted_run_keeps_the_checkpoint(tmp_path) -> None:
    checkpoint = BuildCheckpoint.open(tmp_path, "key")
    checkpoint.save(0, Shard([], np.zeros((0, 4), dtype=np.float32), np.zeros((0, 4), dtype=np.float32)))
    (tmp_path / "versions" / ".tmp-20261130T000000-abcdef").mkdir(parents=True)
    remove_leftovers(tmp_path)
    assert not list((tmp_path / "versions").iterdir())
    assert checkpoint.path(0).is_file()
