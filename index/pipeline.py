"""From articles to a live index version: cut passages, embed them, write and switch.

The rebuild command, the evaluation and the tests all go through :func:`build_index`, so what is
measured is what users run.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from index.articles import Article
from index.embedder import Embedder
from index.passages import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS, Passage, split_passages
from index.persian import normalize
from index.store import write_version

log = logging.getLogger(__name__)


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


def embedding_text(article: Article, passage: Passage) -> str:
    """What the model reads for a passage: the normalized title gives it context, then the passage."""
    body = normalize(passage.text)
    title = normalize(article.title)
    return f"{title}\n{body}" if title else body


def cut_passages(articles: Sequence[Article], embedder: Embedder, chunking: Chunking, progress: bool = False) -> list[Passage]:
    """All passages of all articles, in article order."""
    passages: list[Passage] = []
    for article in tqdm(articles, unit="article", desc="cutting passages", disable=not progress):
        passages.extend(split_passages(article, embedder.count_tokens, chunking.max_tokens, chunking.overlap_tokens))
    return passages


def build_index(
    articles: Sequence[Article],
    index_dir: Path,
    embedder: Embedder,
    chunking: Chunking = Chunking(),
    progress: bool = False,
) -> BuildResult:
    """Embed ``articles`` and make them the live index of ``index_dir``. Call under ``index_lock``."""
    if not articles:
        raise ValueError("no articles to index; the live index is unchanged")
    started = time.perf_counter()
    passages = cut_passages(articles, embedder, chunking, progress)
    by_id = {article.id: article for article in articles}
    texts = [embedding_text(by_id[p.article_id], p) for p in passages]
    chunked = time.perf_counter()
    vectors = embedder.embed_passages(texts, progress=progress)
    embedded = time.perf_counter()
    build_info = {"chunking": asdict(chunking), "bf16": embedder.bf16}
    version = write_version(index_dir, articles, passages, vectors, embedder.name, build_info)
    return BuildResult(version, len(articles), len(passages), chunked - started, embedded - chunked,
                       time.perf_counter() - embedded)
