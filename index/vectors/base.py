"""The vector-index interface every backend implements: build, save, load, add, remove, search, score."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator

import numpy as np

from index.filter import Filter


class VectorIndexError(Exception):
    """A stored vector index cannot be read; the message says why."""


@dataclass(frozen=True)
class VectorBlocks:
    """``rows`` vectors of ``dimension`` handed over block by block in row order; each call of ``read``
    yields the blocks again. A rebuild reads its checkpointed shards this way, so that a version is
    written without all of its vectors in memory at once (docs/design.md, "Resumable rebuilds")."""

    rows: int
    dimension: int
    read: Callable[[], Iterable[np.ndarray]]

    @classmethod
    def of(cls, array: np.ndarray) -> "VectorBlocks":
        """One array as a single block."""
        return cls(len(array), int(array.shape[1]), lambda: (array,))

    def checked(self, what: str = "vectors") -> Iterator[tuple[int, np.ndarray]]:
        """(first row, block) of each block; ValueError, naming ``what``, when the blocks do not hold
        exactly ``rows`` rows of ``dimension`` values."""
        done = 0
        for block in self.read():
            if block.ndim != 2 or block.shape[1] != self.dimension:
                raise ValueError(f"{what} of shape {block.shape}, expected rows of {self.dimension}")
            if done + len(block) > self.rows:
                raise ValueError(f"{self.rows} {what} expected, more given")
            yield done, block
            done += len(block)
        if done != self.rows:
            raise ValueError(f"{self.rows} {what} expected, {done} given")


def ids_for(blocks: VectorBlocks, ids: np.ndarray) -> np.ndarray:
    """``ids`` as int64, one per row of ``blocks`` (ValueError otherwise)."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) != blocks.rows:
        raise ValueError(f"{blocks.rows} vectors but {len(ids)} ids")
    return ids


class Allowed:
    """The passages a filtered search may return: the filter as data, for a backend that stores the
    article fields itself, and the passage ids it selects, resolved only when a backend asks for them."""

    def __init__(self, filter: Filter, resolve: Callable[[Filter], np.ndarray]) -> None:
        self.filter = filter
        self._resolve = resolve

    @cached_property
    def ids(self) -> np.ndarray:
        """The allowed passage ids (int64)."""
        return self._resolve(self.filter)

    @cached_property
    def bitmap(self) -> np.ndarray:
        """The allowed ids as bits, one per passage id up to the largest allowed (little-endian bytes),
        made once for every part of the index a search reads."""
        mask = np.zeros(int(self.ids.max()) + 1 if len(self.ids) else 0, dtype=bool)
        mask[self.ids] = True
        return np.packbits(mask, bitorder="little")


class VectorSearch(ABC):
    """Passage vectors keyed by passage id, searched by inner product (the vectors are normalized, so it
    is their cosine similarity): what a search and an update read. One index file implements it
    (:class:`VectorIndex`), and so do several read as one (:class:`index.vectors.parts.VectorParts`)."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int, allowed: Allowed | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest passages of each query, best first: (ids, scores), each of shape
        (len(queries), at most k); a row with fewer hits is padded with id -1. ``allowed`` restricts the
        passages; None searches all. A search may miss neighbours (approximate indexes), but the scores of
        what it finds are the inner products with the stored vectors, as :meth:`score` gives them."""

    @abstractmethod
    def score(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The similarity of one query vector to each of the given passages' stored vectors (float32, or
        float16 in an IVF index's lists)."""

    @abstractmethod
    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of the given passages (float32), to carry them into a new version."""

    @abstractmethod
    def ids(self) -> np.ndarray:
        """Every stored passage id, in no particular order."""

    @property
    @abstractmethod
    def count(self) -> int:
        """How many vectors are stored."""

    @property
    @abstractmethod
    def dimension(self) -> int:
        """The length of each vector."""

    @property
    def parameters(self) -> dict[str, int]:
        """How this index was tuned (recorded in the manifest); none for an exact index."""
        return {}

    def verify(self, passage_ids: np.ndarray) -> str | None:
        """What is wrong with this index as the vectors of ``passage_ids``, or None when it fits."""
        if not np.array_equal(np.sort(self.ids()), np.sort(passage_ids)):
            return "the vector ids do not match the passage ids"
        return None


class VectorIndex(VectorSearch):
    """One backend's vector index, held in one file of a version folder: built, loaded, saved, changed."""

    kind: ClassVar[str]  # the name recorded in the manifest and accepted by the factory
    files: ClassVar[tuple[str, ...]]  # what :meth:`save` writes into a version folder by default

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray) -> "VectorIndex":
        """A new index holding ``vectors`` (one row per id)."""
        return cls.build_from(VectorBlocks.of(vectors), ids)

    @classmethod
    @abstractmethod
    def build_from(cls, blocks: VectorBlocks, ids: np.ndarray) -> "VectorIndex":
        """A new index holding the blocks' rows under ``ids`` (one per row), reading one block at a time."""

    @classmethod
    @abstractmethod
    def load(cls, folder: Path, name: str | None = None) -> "VectorIndex":
        """The index saved in a version folder (in the file ``name``, default the backend's own: another
        for an appended part, :mod:`index.vectors.parts`); :class:`VectorIndexError` when it cannot be read."""

    @abstractmethod
    def save(self, folder: Path, name: str | None = None) -> None:
        """Write the index into ``folder`` as the file ``name`` (default :attr:`files`), durably (fsynced)."""

    @abstractmethod
    def empty_like(self) -> "VectorIndex":
        """A new, empty index of this backend tuned as this one (an IVF index: the same trained centroids
        and probes), to hold vectors added after this one was written."""

    @abstractmethod
    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add vectors under new ids."""

    @abstractmethod
    def remove(self, ids: np.ndarray) -> None:
        """Remove the vectors of ``ids`` (unknown ids are ignored)."""

    def probe(self, queries: np.ndarray, k: int, allowed: Allowed | None, population: int) -> Any:
        """What a search of ``queries`` among ``population`` vectors, held by parts tuned alike, decides once
        for every part (an approximate index: the clusters it probes); None for an exact index."""
        return None

    def search_among(self, queries: np.ndarray, k: int, allowed: Allowed | None, population: int,
                     probes: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search`, as one part of ``population`` vectors held by indexes tuned alike, with the
        ``probes`` of the first part (:meth:`probe`): an approximate index probes what one index of them all
        would probe. An exact index searches all it holds."""
        return self.search(queries, k, allowed)
