"""The exact vector index: every vector compared with the query (FAISS ``IndexFlatIP`` with passage ids)."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import faiss
import numpy as np

from index.durable import fsync_file
from index.vectors.base import Allowed, VectorBlocks, VectorIndex, VectorIndexError, ids_for

VECTORS = "vectors.faiss"


class FlatIndex(VectorIndex):
    """Exact search; also the reference the approximate backends are measured against."""

    kind = "flat"
    files = (VECTORS,)

    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    def build_from(cls, blocks: VectorBlocks, ids: np.ndarray) -> "FlatIndex":
        ids = ids_for(blocks, ids)
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(blocks.dimension))
        for start, block in blocks.checked():
            index.add_with_ids(np.ascontiguousarray(block, dtype=np.float32), ids[start:start + len(block)])
        return cls(index)

    @classmethod
    def load(cls, folder: Path, name: str | None = None) -> "FlatIndex":
        name = name or VECTORS
        try:
            index = faiss.read_index(str(folder / name))
        except RuntimeError as exc:
            raise VectorIndexError(f"{name} cannot be read ({str(exc).splitlines()[0]})") from None
        if not hasattr(index, "id_map"):
            raise VectorIndexError(f"{name} holds no passage ids")
        return cls(index)

    def save(self, folder: Path, name: str | None = None) -> None:
        faiss.write_index(self._index, str(folder / (name or VECTORS)))
        fsync_file(folder / (name or VECTORS))

    def empty_like(self) -> "FlatIndex":
        return FlatIndex(faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension)))

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        self._forget_views()

    def remove(self, ids: np.ndarray) -> None:
        self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))
        self._forget_views()

    def search(self, queries: np.ndarray, k: int, allowed: Allowed | None = None) -> tuple[np.ndarray, np.ndarray]:
        if allowed is None:
            fetch, params = min(self.count, k), None
        else:
            fetch = min(len(allowed.ids), k)
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed.ids)) if fetch else None
        if not fetch:
            return np.zeros((len(queries), 0), dtype=np.int64), np.zeros((len(queries), 0), dtype=np.float32)
        scores, found = self._index.search(queries, fetch, params=params)
        return found, scores

    def score(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return self._matrix[self._row_of[ids]] @ query

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return np.array(self._matrix[self._row_of[ids]], dtype=np.float32)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map)

    @property
    def count(self) -> int:
        return self._index.ntotal

    @property
    def dimension(self) -> int:
        return self._index.d

    @cached_property
    def _matrix(self) -> np.ndarray:
        """A view of the stored vectors (no copy), row by row in insertion order."""
        flat = faiss.downcast_index(self._index.index)
        return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)

    @cached_property
    def _row_of(self) -> np.ndarray:
        """For each passage id, its row in :attr:`_matrix`."""
        ids = self.ids()
        row_of = np.empty(int(ids.max()) + 1 if len(ids) else 0, dtype=np.int64)
        row_of[ids] = np.arange(len(ids))
        return row_of

    def _forget_views(self) -> None:
        self.__dict__.pop("_matrix", None)
        self.__dict__.pop("_row_of", None)
