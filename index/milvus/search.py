"""Searching one version's Milvus collection: dense vectors (HNSW) and BM25 as sparse vectors, filtered there."""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np
from pymilvus import MilvusClient

from index.filter import Filter
from index.lexical_search import LexicalHit, LexicalSearch
from index.milvus.collection import SEARCH_EF, expression
from index.milvus.sparse import query_vector, term_dimension
from index.vectors.base import Allowed


class MilvusVectors:
    """The reading half of :class:`index.vectors.base.VectorIndex` over a published collection: what the
    engine asks of passage vectors (search, exact scores of given passages). Collections are written
    by :func:`index.milvus.collection.publish`, never through this class."""

    def __init__(self, client: MilvusClient, collection: str, dimension: int) -> None:
        self.client = client
        self.collection = collection
        self._dimension = dimension
        self._last = threading.local()  # this thread's last single-query search: its query and scores

    def search(self, queries: np.ndarray, k: int, allowed: Allowed | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest passages of each query by inner product, best first, padded with id -1; a
        filter travels as a Milvus expression built from ``allowed.filter``."""
        answers = self.client.search(
            self.collection, data=[q.tolist() for q in np.asarray(queries, dtype=np.float32)], anns_field="vector",
            limit=k, filter=expression(allowed.filter if allowed else None), output_fields=["id"],
            search_params={"metric_type": "IP", "params": {"ef": max(SEARCH_EF, k)}},
        )
        width = max((len(hits) for hits in answers), default=0)
        ids = np.full((len(answers), width), -1, dtype=np.int64)
        scores = np.zeros((len(answers), width), dtype=np.float32)
        for row, hits in enumerate(answers):
            ids[row, :len(hits)] = [hit["id"] for hit in hits]
            scores[row, :len(hits)] = [hit["distance"] for hit in hits]
        if len(answers) == 1:
            self._last.query = np.asarray(queries, dtype=np.float32).reshape(-1).tobytes()
            self._last.scores = dict(zip(ids[0].tolist(), scores[0].tolist()))
        return ids, scores

    def score(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The inner product of ``query`` with each given passage's stored vector. Passages the last search
        with this query found keep the score Milvus gave them; only the others' vectors are fetched (the
        engine scores its dense pool plus the lexical hits, so this saves a thousand-vector fetch)."""
        query = np.asarray(query, dtype=np.float32)
        known = getattr(self._last, "scores", {}) if getattr(self._last, "query", None) == query.tobytes() else {}
        scores = np.array([known.get(int(i), np.nan) for i in ids], dtype=np.float32)
        missing = np.isnan(scores)
        if missing.any():
            scores[missing] = self.vectors(np.asarray(ids)[missing]) @ query
        return scores

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of the given passages, in the order of ``ids``."""
        if not len(ids):
            return np.zeros((0, self._dimension), dtype=np.float32)
        rows = self.client.get(self.collection, ids=[int(i) for i in ids], output_fields=["vector"])
        by_id = {row["id"]: row["vector"] for row in rows}
        missing = [int(i) for i in ids if int(i) not in by_id]
        if missing:
            raise KeyError(f"Milvus collection {self.collection} holds no passage {missing[0]}")
        return np.array([by_id[int(i)] for i in ids], dtype=np.float32)

    @property
    def count(self) -> int:
        return int(self.client.get_collection_stats(self.collection)["row_count"])

    @property
    def dimension(self) -> int:
        return self._dimension


class MilvusLexicalSearch(LexicalSearch):
    """BM25 in Milvus over the product's own terms: the query's sparse vector holds the IDFs that
    ``statistics`` (the version's own lexical index, per thread) computes, so scores equal FTS5's."""

    def __init__(self, client: MilvusClient, collection: str, statistics: LexicalSearch) -> None:
        self.client = client
        self.collection = collection
        self.statistics = statistics

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        return self.statistics.idf(terms)

    def search(self, terms: Sequence[str], limit: int, filter: Filter | None = None) -> list[LexicalHit]:
        terms = list(dict.fromkeys(terms))
        weights = query_vector(self.idf(terms))
        if not weights:
            return []
        answers = self.client.search(self.collection, data=[weights], anns_field="sparse", limit=limit,
                                     filter=expression(filter), output_fields=["sparse"],
                                     search_params={"metric_type": "IP"})
        dimensions = {term: term_dimension(term) for term in terms}
        hits = []
        for hit in answers[0]:
            held = hit["entity"]["sparse"]
            matched = frozenset(term for term, dimension in dimensions.items() if dimension in held)
            if matched and hit["distance"] > 0:
                hits.append(LexicalHit(int(hit["id"]), float(hit["distance"]), matched))
        return hits
