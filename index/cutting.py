"""Cutting articles into passages and the texts the model reads, in this process or in worker processes.

A rebuild cuts its articles shard by shard (:mod:`index.checkpoints`); on a large archive the shards are
cut by a pool of worker processes, each holding hazm and the model's tokenizer, while the main process
embeds the shards already cut. The result is the same either way: each article is cut on its own.
"""
from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from index.articles import Article
from index.passages import Passage, TokenCounter, split_passages
from index.persian import normalize

log = logging.getLogger(__name__)

#: Below this many articles to cut, worker processes cost more to start (importing hazm, loading the
#: tokenizer) than they save; measured in docs/benchmarks.md ("Resumable rebuilds").
PARALLEL_MIN_ARTICLES = 2000


@dataclass(frozen=True)
class CutShard:
    """Consecutive articles' passages, and for each passage the text the model reads and its sentences'
    character ranges in that text."""

    passages: list[Passage]
    texts: list[str]
    ranges: list[list[tuple[int, int]]]


def embedding_input(article: Article, passage: Passage) -> tuple[str, list[tuple[int, int]]]:
    """What the model reads for a passage, and where each of its sentences lies in that text: the
    normalized title gives context, then the passage's sentences, each normalized on its own."""
    title = normalize(article.title)
    text = f"{title}\n" if title else ""
    ranges = []
    for start, end in passage.sentences:
        piece = normalize(passage.text[start:end]) or passage.text[start:end]
        if ranges:
            text += " "
        ranges.append((len(text), len(text) + len(piece)))
        text += piece
    return text, ranges


def cut_shard(articles: Sequence[Article], count_tokens: TokenCounter, max_tokens: int, overlap_tokens: int) -> CutShard:
    """The passages of ``articles`` in article order, with what the model reads for each."""
    passages: list[Passage] = []
    texts: list[str] = []
    ranges: list[list[tuple[int, int]]] = []
    for article in articles:
        for passage in split_passages(article, count_tokens, max_tokens, overlap_tokens):
            text, spans = embedding_input(article, passage)
            passages.append(passage)
            texts.append(text)
            ranges.append(spans)
    return CutShard(passages, texts, ranges)


class ShardCutter:
    """Cuts shards in order: in this process with ``count_tokens``, or, when ``workers`` > 1 and there are
    at least :data:`PARALLEL_MIN_ARTICLES` articles to cut, ahead of the caller in worker processes (a few
    shards at a time, so memory stays bounded), each counting with a copy of ``core`` (a fast tokenizer's Rust
    core, which travels, so workers import neither transformers nor torch; None, as for a slow tokenizer, cuts
    here). Use as a context manager; the workers stop on exit."""

    def __init__(self, count_tokens: TokenCounter, core: Any, max_tokens: int, overlap_tokens: int,
                 workers: int = 1) -> None:
        self.count_tokens = count_tokens
        self.core = core
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "ShardCutter":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def cut(self, shards: Iterable[Sequence[Article]], articles: int) -> Iterator[CutShard]:
        """Each shard cut, in the order given; ``shards`` hold ``articles`` in all, and are taken from only
        as they are cut (a few ahead in worker processes)."""
        if self.workers < 2 or self.core is None or articles < PARALLEL_MIN_ARTICLES:
            for shard in shards:
                yield cut_shard(shard, self.count_tokens, self.max_tokens, self.overlap_tokens)
            return
        # spawn, not fork: the parent has torch's and the tokenizer's threads running, which fork does not copy
        self.pool = ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"),
                                        initializer=_start_worker, initargs=(self.core,))
        log.info("cutting passages in %d worker processes", self.workers)
        ahead = self.workers + 1
        pending: list[Future[CutShard]] = []
        for shard in shards:
            pending.append(self.pool.submit(_cut_in_worker, list(shard), self.max_tokens, self.overlap_tokens))
            if len(pending) >= ahead:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()


_worker_core: Any = None


def _start_worker(core: Any) -> None:
    global _worker_core
    core.no_truncation()  # as the embedder's count_tokens calls it: every token counted
    core.no_padding()
    _worker_core = core


def _count_in_worker(texts: Sequence[str]) -> list[int]:
    """Model tokens of each text without special tokens, as :meth:`Embedder.count_tokens` counts them."""
    if not texts:
        return []
    return [len(encoding.ids) for encoding in _worker_core.encode_batch(list(texts), add_special_tokens=False)]


def _cut_in_worker(articles: list[Article], max_tokens: int, overlap_tokens: int) -> CutShard:
    assert _worker_core is not None, "worker started without its tokenizer"
    return cut_shard(articles, _count_in_worker, max_tokens, overlap_tokens)
