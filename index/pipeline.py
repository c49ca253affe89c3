"""From articles to a live index version: cut passages, embed them, write and switch.

The rebuild command, the evaluation and the tests all go through :func:`build_index`, so what is
measured is what users run.
"""
from __future__ import annotations

import logging
import time
from contextlib import closing
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from tqdm import tqdm

from index.articles import Article
from index.checkpoints import BuildCheckpoint, Shard, build_key
from index.cutting import CutShard, ShardCutter, cut_shard
from index.embedder import Embedder
from index.passages import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS, Passage
from index.store import (
    IndexVersion,
    content_hash,
    crash_point,
    open_index,
    require_model,
    write_version,
)
from index.append import append_version, merge_reason, next_tombstones, writes_segments
from index.changes import UpdateResult
from index.rewrite import Embedded, Rewrite, articles_by_id, stored_hashes, stored_order
from index.rows import Walk
from index.vectors.base import VectorBlocks
from settings import Settings

log = logging.getLogger(__name__)

#: The embedding step: passage texts and their sentences' character ranges in, passage vectors and
#: sentence vectors out (the signature of :meth:`Embedder.embed_passages`). A build embeds with its
#: embedder's own method unless given another, such as :class:`index.distributed.RayEmbedding`.
PassageEmbedding = Callable[[Sequence[str], Sequence[Sequence[tuple[int, int]]], bool], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Chunking:
    """How articles are cut; recorded in the manifest so a later update cuts the same way."""

    max_tokens: int = DEFAULT_MAX_TOKENS
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS

    def __post_init__(self) -> None:
        if not 16 <= self.max_tokens <= 480:
            raise ValueError(f"max_tokens must be between 16 and 480 (the model reads 512), not {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise ValueError(f"overlap_tokens must be between 0 and max_tokens - 1, not {self.overlap_tokens}")


@dataclass
class BuildResult:
    """What a build produced and how long each stage took."""

    version: Path
    articles: int
    passages: int
    chunk_seconds: float
    embed_seconds: float
    write_seconds: float

    @property
    def passages_per_second(self) -> float:
        return self.passages / self.embed_seconds if self.embed_seconds else 0.0


def cut_articles(articles: Sequence[Article], embedder: Embedder, chunking: Chunking) -> CutShard:
    """The passages of ``articles`` in article order, with what the model reads for each, cut in this process
    (an update's few articles, and the benchmarks' samples; a rebuild cuts shard by shard)."""
    return cut_shard(articles, embedder.count_tokens, chunking.max_tokens, chunking.overlap_tokens)


def build_index(
    articles: Sequence[Article],
    index_dir: Path,
    embedder: Embedder,
    chunking: Chunking = Chunking(),
    progress: bool = False,
    embed_passages: PassageEmbedding | None = None,
    vector_index: str = "auto",
    shard_articles: int = Settings.shard_articles,
    cut_workers: int = 1,
    release_model: bool = False,
) -> BuildResult:
    """Embed ``articles`` and make them the live index of ``index_dir``. Call under ``index_lock``.
    ``embedder`` cuts the passages and names the model; ``embed_passages`` (default: the embedder's
    own) computes their vectors. ``vector_index``: the vector backend, or ``auto`` to choose it by size
    (settings.vector_index).

    Work proceeds in shards of ``shard_articles`` consecutive articles, each kept on disk when done
    (:mod:`index.checkpoints`): a build stopped halfway and started again with the same articles and
    settings embeds only the shards not yet done. ``cut_workers`` > 1 cuts a large archive's shards in
    that many worker processes while this one embeds. ``release_model``: give the model's memory back once
    everything is embedded (:meth:`Embedder.release`), for a caller that embeds nothing more soon."""
    if not articles:
        raise ValueError("no articles to index; the live index is unchanged")
    if shard_articles < 1:
        raise ValueError(f"shard_articles must be at least 1, not {shard_articles}")
    build_info = _build_info(chunking, embedder)
    checkpoint = BuildCheckpoint.open(index_dir, build_key(articles, embedder.name, build_info, shard_articles))
    starts = range(0, len(articles), shard_articles)

    def shard(number: int) -> Sequence[Article]:
        """Shard ``number``'s articles, read only when needed (``articles`` may be on disk, index.staging)."""
        return articles[starts[number]:starts[number] + shard_articles]

    # only each finished shard's size stays in memory while the others are embedded
    sizes: list[tuple[int, int, int] | None] = [
        _size(checkpoint.load(n, shard(n))) if checkpoint.path(n).is_file() else None for n in range(len(starts))]
    todo = [number for number, size in enumerate(sizes) if size is None]
    if len(todo) < len(starts):
        log.info("resuming: %d of %d shards already done", len(starts) - len(todo), len(starts))
    embed_passages = embed_passages or embedder.embed_passages
    chunk_seconds = embed_seconds = 0.0
    cutter = ShardCutter(embedder.count_tokens, embedder.backend.token_core, chunking.max_tokens,
                         chunking.overlap_tokens, cut_workers)
    shard_size = [min(shard_articles, len(articles) - start) for start in starts]
    to_cut = sum(shard_size[n] for n in todo)
    with cutter, tqdm(total=len(articles), initial=len(articles) - to_cut, unit="article",
                      desc="cutting and embedding", disable=not progress) as bar:
        started = time.perf_counter()
        for number, cut in zip(todo, cutter.cut((shard(n) for n in todo), to_cut)):
            cut_at = time.perf_counter()
            chunk_seconds += cut_at - started
            if number == todo[0]:
                crash_point("before-embedding")
            vectors, sentence_vectors = embed_passages(cut.texts, cut.ranges, False)
            checkpoint.save(number, Shard(cut.passages, vectors, sentence_vectors))
            sizes[number] = (len(cut.passages), len(sentence_vectors), vectors.shape[1])
            crash_point("shard-written")
            bar.update(shard_size[number])
            started = time.perf_counter()
            embed_seconds += started - cut_at
    crash_point("after-embedding")
    if release_model:
        embedder.release()
    writing = time.perf_counter()
    passages, vectors, sentence_vectors = _assemble(checkpoint, shard, sizes)
    version = write_version(index_dir, articles, passages, vectors, sentence_vectors, embedder.name, build_info,
                            vector_index, progress=progress)
    checkpoint.remove()
    return BuildResult(version, len(articles), len(passages), chunk_seconds, embed_seconds,
                       time.perf_counter() - writing)


def _size(shard: Shard | None) -> tuple[int, int, int] | None:
    """A finished shard's passages, sentences and vector dimension."""
    return None if shard is None else (len(shard.passages), len(shard.sentence_vectors), shard.vectors.shape[1])


def _assemble(checkpoint: BuildCheckpoint, shard: Callable[[int], Sequence[Article]],
              sizes: Sequence[tuple[int, int, int] | None]) -> tuple[Walk[Passage], VectorBlocks, VectorBlocks]:
    """Every shard's passages, passage vectors and sentence vectors, each read back shard by shard when
    ``write_version`` reads them (neither the passages nor the vectors are ever all in memory). Each read
    checks the shard still holds what it held when it was finished (``sizes``)."""
    done = [(number, size) for number, size in enumerate(sizes) if size]
    dimension = done[0][1][2]

    def blocks(member: str, column: int) -> VectorBlocks:
        return VectorBlocks(sum(size[column] for _, size in done), dimension,
                            lambda: (checkpoint.vectors(number, member, size[column]) for number, size in done))

    passages = Walk(sum(size[0] for _, size in done),
                    lambda: (p for number, size in done for p in checkpoint.passages(number, shard(number), size[0])))
    return passages, blocks("vectors", 0), blocks("sentence_vectors", 1)


def update_index(
    index_dir: Path,
    embedder: Embedder,
    upserts: Sequence[Article] = (),
    deletions: Sequence[str] = (),
    progress: bool = False,
    live: IndexVersion | None = None,
    vector_index: str = "auto",
    merge: bool = False,
) -> UpdateResult:
    """Add, replace and delete articles in the live index, embedding only articles whose title or text
    changed; everything else keeps its passages and vectors. The new version appends to a copy of the live
    one (:mod:`index.append`) or, when ``merge`` is asked or appending cannot be done
    (:func:`index.append.merge_reason`), is written whole without dead passages. Call under ``index_lock``;
    ``live`` is the live version when the caller has already opened it; ``vector_index`` as for
    :func:`build_index`."""
    live = live or open_index(index_dir)
    require_model(live, embedder.name)
    chunking = Chunking(**live.manifest.get("chunking", {}))
    incoming = {article.id: article for article in upserts}
    stored = stored_hashes(live, [*incoming, *deletions])
    unknown = [article_id for article_id in deletions if article_id not in stored and article_id not in incoming]
    for article_id in unknown:
        log.warning("cannot delete %s: no such article in the index", article_id)
    deleted = [article_id for article_id in dict.fromkeys(deletions) if article_id in stored and article_id not in incoming]

    with closing(live.connect()) as db:
        previous = articles_by_id(db, [article_id for article_id in incoming if article_id in stored])
    to_embed: list[Article] = []
    added, replaced, unchanged, metadata_only = [], [], [], []
    for article in incoming.values():
        old = previous.get(article.id)
        if old is None:
            added.append(article.id)
            to_embed.append(article)
        elif stored[article.id] != content_hash(article):
            replaced.append(article.id)
            to_embed.append(article)
        else:
            (unchanged if old == replace(article, source=old.source) else metadata_only).append(article.id)
    if live.live_articles - len(deleted) + len(added) == 0:
        raise ValueError("the update would leave the index empty; the live index is unchanged")

    cut = cut_articles(to_embed, embedder, chunking)
    crash_point("before-embedding")
    new_vectors, new_sentence_vectors = embedder.embed_passages(cut.texts, cut.ranges, progress)
    crash_point("after-embedding")
    embedded = _by_article(to_embed, cut.passages, new_vectors, new_sentence_vectors)
    build_info = {**_build_info(chunking, embedder), "lineage": live.lineage}
    tombstones = next_tombstones(live, incoming, embedded, deleted)
    reason = "asked for (--rewrite)" if merge else merge_reason(live, tombstones, len(cut.passages), vector_index)
    if reason is None and not (to_embed or metadata_only or deleted):
        log.info("nothing changed: the live version stays")
        return UpdateResult(live.path, added, replaced, unchanged, metadata_only, deleted, unknown, 0, live.live_passages,
                            "nothing written: nothing changed")
    if reason is None:
        segmented = writes_segments(live)
        version, live_passages = append_version(index_dir, live, incoming, embedded, deleted, tombstones, build_info,
                                                segmented)
        written = ("appended as a segment beside the live version's linked files" if segmented
                   else "appended to a copy of the live version")
        return UpdateResult(version, added, replaced, unchanged, metadata_only, deleted, unknown,
                            len(cut.passages), live_passages - len(cut.passages), written)
    log.info("merging (writing every passage again, without dead ones): %s", reason)
    # stored articles stay where they are, even when updated; new ones go to the end, in the order given
    gone = set(deleted)
    order = [aid for aid in stored_order(live) if aid not in gone] + [aid for aid in incoming if aid not in stored]
    rewrite = Rewrite(live, order, incoming, embedded)
    version = write_version(index_dir, rewrite.articles(), rewrite.passage_rows(),
                            VectorBlocks(rewrite.passages, embedder.dimension, rewrite.vector_blocks),
                            VectorBlocks(rewrite.sentences, embedder.dimension, rewrite.sentence_vector_blocks),
                            embedder.name, build_info, vector_index,
                            rewrite.lexical(), rewrite.text_keys(), progress=progress)
    return UpdateResult(version, added, replaced, unchanged, metadata_only, deleted, unknown,
                        len(cut.passages), rewrite.passages - len(cut.passages), f"merged: {reason}")


def _by_article(articles: Sequence[Article], passages: Sequence[Passage], vectors: np.ndarray,
                sentence_vectors: np.ndarray) -> dict[str, Embedded]:
    """What was just embedded, by article (every one of ``articles``, even one that made no passage)."""
    rows: dict[str, list[int]] = {article.id: [] for article in articles}
    for row, passage in enumerate(passages):
        rows[passage.article_id].append(row)
    first_sentence = np.cumsum([0] + [len(passage.sentences) for passage in passages])
    sentence_rows = {article_id: [s for r in ids for s in range(first_sentence[r], first_sentence[r + 1])]
                     for article_id, ids in rows.items()}
    return {article_id: Embedded([passages[r] for r in ids], vectors[ids], sentence_vectors[sentence_rows[article_id]])
            for article_id, ids in rows.items()}


def _build_info(chunking: Chunking, embedder: Embedder) -> dict:
    """How the vectors were made, recorded in the manifest."""
    return {"chunking": asdict(chunking), "bf16": embedder.bf16, "precision": embedder.precision}
