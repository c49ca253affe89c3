"""The query-vector cache: query vectors kept, so paging through results or switching method never re-embeds."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from index.embedder import Embedder
from index.persian import normalize

QUERY_CACHE = 256  # query vectors kept


class VectorCache:
    """A thread-safe least-recently-used map from keys to vectors."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
        return vector

    def put_many(self, items: dict[Any, np.ndarray]) -> None:
        with self._lock:
            self._items.update(items)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class QueryVectors:
    """The model's vectors of normalized queries, each embedded once while it stays in the cache."""

    def __init__(self, embedder: Embedder, size: int = QUERY_CACHE) -> None:
        self.embedder = embedder
        self.cache = VectorCache(size)

    def of(self, normalized: str) -> np.ndarray:
        """The (1, dimension) vector of one normalized query."""
        vector = self.cache.get(normalized)
        if vector is None:
            vector = self.embedder.embed_queries([normalized])
            self.cache.put_many({normalized: vector})
        return vector

    def embed_ahead(self, queries: list[str]) -> None:
        """Embed many raw queries in batches (far faster than one by one) into the cache."""
        normalized = list(dict.fromkeys(n for n in map(normalize, queries) if n))
        vectors = self.embedder.embed_queries(normalized)
        self.cache.put_many({text: vectors[i:i + 1] for i, text in enumerate(normalized)})
