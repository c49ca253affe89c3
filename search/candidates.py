"""Candidate passages of a query and their raw scores: the dense pool (vector index), the lexical pool
(BM25), and for ``hybrid`` both together with what fusion needs to know about each."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from index.filter import Filter
from index.lexical import token_script
from index.lexical_search import MAX_QUERY_TERMS, LexicalHit, LexicalSearch, strongest_terms
from index.vectors.base import Allowed, VectorIndex
from search.passage_arrays import PassageArrays, SentenceSpans

# How deep each side looks, in passages. Both are exact (flat vectors, full BM25), so the depth only
# bounds how many articles a query can page through (``SearchResponse.total``), not the quality of the
# first pages.
DENSE_POOL = 1000
LEXICAL_POOL = 1000


@dataclass(frozen=True)
class Candidates:
    """Every candidate passage of a ``hybrid`` query with its raw evidence, for :meth:`Fusion.fuse`."""

    ids: np.ndarray  # the dense pool, then the lexical hits outside it
    cosine: np.ndarray  # the exact cosine of each with the query (lexical-only hits too)
    pool_low: float  # the lowest and highest cosine of the dense pool
    pool_high: float
    bm25: np.ndarray  # 0 where the passage holds no query term
    matched: np.ndarray  # the summed IDF of the query terms each passage holds
    query_mass: float  # the query's summed IDF (1 when there are no lexical hits)
    usable: np.ndarray  # where lexical matching can see the passage (see Fusion)
    # the best-sentence cosine of the candidates at the given positions, read only for those the re-rank reaches
    best_sentence: Callable[[np.ndarray], np.ndarray]


def lexical_terms(lexical: LexicalSearch, terms: list[str]) -> list[str]:
    """The terms lexical search reads: all, or the ``MAX_QUERY_TERMS`` rarest of a long query."""
    return strongest_terms(terms, lexical.idf(terms)) if len(terms) > MAX_QUERY_TERMS else terms


def lexical_hits(lexical: LexicalSearch, terms: list[str], where: Filter) -> list[LexicalHit]:
    return lexical.search(terms, LEXICAL_POOL, where) if terms else []


def dense_hits(vectors: VectorIndex, vector: np.ndarray, where: Filter,
               allowed_ids: Callable[[Filter], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``DENSE_POOL`` passages nearest to ``vector`` that ``where`` keeps, and their cosines;
    ``allowed_ids`` (needed for a non-empty filter) resolves a filter into passage ids."""
    allowed = None if where.is_empty else Allowed(where, allowed_ids)
    found, scores = vectors.search(vector, DENSE_POOL, allowed)
    keep = found[0] >= 0
    return found[0][keep], scores[0][keep]


def hybrid_candidates(vectors: VectorIndex, lexical: LexicalSearch, arrays: PassageArrays,
                      sentence_vectors: np.ndarray, vector: np.ndarray, dense: tuple[np.ndarray, np.ndarray],
                      terms: list[str], searched: list[str], hits: list[LexicalHit]) -> Candidates:
    """Both pools together, each passage with both scores; ``terms`` are the query's, ``searched`` those
    lexical search read (see :func:`lexical_terms`), ``dense`` a non-empty :func:`dense_hits`."""
    dense_ids, dense_scores = dense
    candidates = dict.fromkeys(dense_ids.tolist())
    candidates.update((hit.passage_id, None) for hit in hits)
    ids = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
    bm25 = np.zeros(len(ids))
    matched = np.zeros(len(ids))
    query_mass = 1.0
    if hits:
        idf = lexical.idf(searched)
        query_mass = sum(idf.values()) or 1.0
        position = {passage_id: i for i, passage_id in enumerate(ids.tolist())}
        for hit in hits:
            i = position[hit.passage_id]
            bm25[i] = hit.score
            matched[i] = sum(idf[t] for t in hit.matched)
    cosine = vectors.score(vector[0], ids)

    def best_sentence(top: np.ndarray) -> np.ndarray:
        return best_sentence_cosine(ids[top], vector[0], cosine[top], arrays.sentences, sentence_vectors)

    return Candidates(ids, cosine, float(dense_scores.min()), float(dense_scores.max()), bm25, matched, query_mass,
                      _usable(arrays, ids, terms), best_sentence)


def best_sentence_cosine(ids: np.ndarray, query: np.ndarray, cosine: np.ndarray, sentences: SentenceSpans,
                         sentence_vectors: np.ndarray) -> np.ndarray:
    """Each passage's highest sentence cosine with ``query`` (its own ``cosine`` where it has no sentence rows)."""
    first = sentences.first
    starts, counts = first[ids], first[ids + 1] - first[ids]
    rows = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    similarity = sentence_vectors[rows].astype(np.float32) @ query
    best = cosine.astype(np.float32, copy=True)
    has = counts > 0
    if has.any():
        best[has] = np.maximum.reduceat(similarity, (np.cumsum(counts) - counts)[has])
    return best


def _usable(arrays: PassageArrays, ids: np.ndarray, terms: list[str]) -> np.ndarray:
    """Where lexical evidence means something: the passages in a script the query has a word in."""
    scripts = {token_script(t) for t in terms}
    if not terms:  # only stop words: lexical matching has nothing to say about any passage
        return np.zeros(len(ids), dtype=bool)
    if scripts <= {None}:  # only numbers: script-neutral, every passage could hold them
        return np.ones(len(ids), dtype=bool)
    return np.isin(arrays.scripts[ids], list(scripts))
