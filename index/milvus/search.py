"""Searching one version's rows in its Milvus collection: dense vectors (HNSW) and BM25 as sparse vectors,
filtered there; hits come back as the version's passage ids through its :class:`PassageKeys`."""
from __future__ import annotations

import logging
import threading
from typing import Sequence

import numpy as np
from pymilvus import MilvusClient

from index.filter import Filter
from index.lexical_search import LexicalHit, LexicalSearch
from index.milvus.collection import SEARCH_EF, WORDS, expression
from index.milvus.keys import PassageKeys
from index.milvus.sparse import query_vector, term_dimension
from index.vectors.base import Allowed

log = logging.getLogger(__name__)


class MilvusVectors:
    """The reading half of :class:`index.vectors.base.VectorIndex` over a published collection: what the
    engine asks of passage vectors (search, exact scores of given passages). Collections are written
    by :func:`index.milvus.sync.publish`, never through this class."""

    def __init__(self, client: MilvusClient, collection: str, dimension: int, keys: PassageKeys) -> None:
        self.client = client
        self.collection = collection
        self._dimension = dimension
        self.keys = keys
        self._last = threading.local()  # this thread's last single-query search: its query and scores

    def search(self, queries: np.ndarray, k: int, allowed: Allowed | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest passages of each query by inner product, best first, padded with id -1; a
        filter travels as a Milvus expression built from ``allowed.filter``. Rows of another version (an
        update being synchronized) are left out, so a row may return fewer than ``k``."""
        answers = self.client.search(
            self.collection, data=[q.tolist() for q in np.asarray(queries, dtype=np.float32)], anns_field="vector",
            limit=k, filter=expression(allowed.filter if allowed else None), output_fields=["id"],
            search_params={"metric_type": "IP", "params": {"ef": max(SEARCH_EF, k)}},
        )
        found = []
        for hits in answers:
            passages = self.keys.passages(np.array([hit["id"] for hit in hits], dtype=np.int64))
            known = passages != -1
            found.append((passages[known], np.array([hit["distance"] for hit in hits], dtype=np.float32)[known]))
        width = max((len(passages) for passages, _ in found), default=0)
        ids = np.full((len(answers), width), -1, dtype=np.int64)
        scores = np.zeros((len(answers), width), dtype=np.float32)
        for row, (passages, distances) in enumerate(found):
            ids[row, :len(passages)] = passages
            scores[row, :len(passages)] = distances
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
        """The stored vectors of the given passages, in the order of ``ids``; a zero vector (similarity 0)
        for a passage whose row Milvus does not hold yet, while its version is being synchronized."""
        if not len(ids):
            return np.zeros((0, self._dimension), dtype=np.float32)
        keys = self.keys.keys_of(ids).tolist()
        rows = self.client.get(self.collection, ids=keys, output_fields=["vector"])
        by_key = {row["id"]: row["vector"] for row in rows}
        missing = [int(i) for i, key in zip(ids, keys) if key not in by_key]
        if missing:
            log.warning("Milvus collection %s holds no row for %d passages (first: %d) of this version; a sync "
                        "is running or was cut short (`python -m index.milvus publish` finishes it)",
                        self.collection, len(missing), missing[0])
        zero = [0.0] * self._dimension
        return np.array([by_key.get(key, zero) for key in keys], dtype=np.float32)

    @property
    def count(self) -> int:
        """The version's passages (the collection may hold another version's rows for a moment)."""
        return len(self.keys)

    @property
    def dimension(self) -> int:
        return self._dimension


class MilvusLexicalSearch(LexicalSearch):
    """BM25 in Milvus over the product's own terms, in one sparse ``field`` (words or stems): the query's
    sparse vector holds the IDFs that ``statistics`` (the same field of the version's own lexical index,
    per thread) computes, so scores equal FTS5's."""

    def __init__(self, client: MilvusClient, collection: str, statistics: LexicalSearch, keys: PassageKeys,
                 field: str = WORDS) -> None:
        self.client = client
        self.collection = collection
        self.statistics = statistics
        self.keys = keys
        self.field = field

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        return self.statistics.idf(terms)

    def search(self, terms: Sequence[str], limit: int, filter: Filter | None = None,
               matched: bool = True) -> list[LexicalHit]:
        terms = list(dict.fromkeys(terms))
        weights = query_vector(self.idf(terms))
        if not weights:
            return []
        answers = self.client.search(self.collection, data=[weights], anns_field=self.field, limit=limit,
                                     filter=expression(filter), output_fields=[self.field] if matched else [],
                                     search_params={"metric_type": "IP"})
        dimensions = {term: term_dimension(term) for term in terms}
        passages = self.keys.passages(np.array([hit["id"] for hit in answers[0]], dtype=np.int64))
        hits = []
        for hit, passage_id in zip(answers[0], passages.tolist()):
            if hit["distance"] <= 0 or passage_id == -1:  # -1: another version's row
                continue
            held = hit["entity"][self.field] if matched else {}
            holds = frozenset(term for term, dimension in dimensions.items() if dimension in held)
            if holds or not matched:
                hits.append(LexicalHit(passage_id, float(hit["distance"]), holds))
        return hits
