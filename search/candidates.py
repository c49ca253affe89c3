"""Candidate passages of a query and their raw scores: the dense pool (vector index), the lexical pool
(BM25), and for ``hybrid`` both together with what fusion needs to know about each."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from index.filter import Filter
from index.lexical import token_script
from index.lexical_search import MAX_QUERY_TERMS, LexicalHit, LexicalSearch, strongest_terms
from index.ranges import run_rows
from index.sentence_parts import SentenceVectors
from index.vectors.base import Allowed, VectorSearch
from search.passage_arrays import PassageArrays, SentenceSpans

# How deep each side looks, in passages. Both are exact (flat vectors, full BM25), so the depth only
# bounds how many articles a query can page through (``SearchResponse.total``), not the quality of the
# first pages.
DENSE_POOL = 1000
LEXICAL_POOL = 1000
# Where KAVOSH_STEMS=auto has hybrid search the stems field too. FTS5 scores every passage holding a query
# term, so the stems search costs in proportion to the archive: +4.8 ms a query at 5,063 passages, +52 ms
# at 10^5 (docs/benchmarks.md); up to here it costs about 10 ms at most, for its measured gain in ranking.
STEMS_UP_TO = 20_000


def searches_stems(setting: str, passages: int) -> bool:
    """Whether hybrid searches the stems field of an index of ``passages`` passages under ``KAVOSH_STEMS``. Above
    ``STEMS_UP_TO`` even tantivy's stems search costs too much for its gain: its top-k is cheap, but reading which
    stems each of a thousand hits holds is not (docs/benchmarks.md, "Lexical search at scale")."""
    return setting == "on" or (setting == "auto" and passages <= STEMS_UP_TO)


@dataclass(frozen=True)
class LexicalPool:
    """One lexical field's answer to a query: the field's search, the terms it read, the passages holding them."""

    search: LexicalSearch
    searched: list[str]
    hits: list[LexicalHit]


@dataclass(frozen=True)
class Evidence:
    """One lexical field's raw BM25 evidence about each candidate."""

    bm25: np.ndarray  # 0 where the passage holds no query term
    matched: np.ndarray  # the summed IDF of the query terms each passage holds
    query_mass: float  # the query's summed IDF (1 when there are no hits)


@dataclass(frozen=True)
class Candidates:
    """Every candidate passage of a ``hybrid`` query with its raw evidence, for :meth:`Fusion.fuse`."""

    ids: np.ndarray  # the dense pool, then the lexical hits outside it
    cosine: np.ndarray  # the exact cosine of each with the query (lexical-only hits too)
    pool_low: float  # the lowest and highest cosine of the dense pool
    pool_high: float
    tokens: Evidence  # BM25 over the query's words
    stems: Evidence | None  # BM25 over their stems; None where the index has no stems field
    usable: np.ndarray  # where lexical matching can see the passage (see Fusion)
    # the best-sentence cosine of the candidates at the given positions, read only for those the re-rank reaches
    best_sentence: Callable[[np.ndarray], np.ndarray]


def lexical_pool(lexical: LexicalSearch, terms: list[str], where: Filter, deleted: np.ndarray | None = None,
                 matched: bool = True) -> LexicalPool:
    """The ``LEXICAL_POOL`` best BM25 hits of ``terms`` (all, or the ``MAX_QUERY_TERMS`` rarest of a long query),
    less the ``deleted`` passages (a mask, see :func:`live`); ``matched=False`` when the terms each hit holds are
    not needed (see :meth:`LexicalSearch.search`)."""
    terms = list(dict.fromkeys(terms))
    searched = strongest_terms(terms, lexical.idf(terms)) if len(terms) > MAX_QUERY_TERMS else terms
    hits = lexical.search(searched, LEXICAL_POOL, where, matched) if searched else []
    if deleted is not None:
        hits = [hit for hit in hits if not deleted[hit.passage_id]]
    return LexicalPool(lexical, searched, hits)


def live(found: tuple[np.ndarray, np.ndarray], deleted: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Passage ids and their scores less the ``deleted`` passages (True in the mask; None: none deleted). Searches
    drop them after the fact: the few a pool loses are nothing beside its depth, and a deletion that would
    leave many merges instead (index.tombstones.MERGE_DELETED_SHARE)."""
    if deleted is None:
        return found
    keep = ~deleted[found[0]]
    return found[0][keep], found[1][keep]


def dense_hits(vectors: VectorSearch, vector: np.ndarray, where: Filter,
               allowed_ids: Callable[[Filter], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``DENSE_POOL`` passages nearest to ``vector`` that ``where`` keeps, and their cosines;
    ``allowed_ids`` (needed for a non-empty filter) resolves a filter into passage ids."""
    allowed = None if where.is_empty else Allowed(where, allowed_ids)
    found, scores = vectors.search(vector, DENSE_POOL, allowed)
    keep = found[0] >= 0
    return found[0][keep], scores[0][keep]


def hybrid_candidates(vectors: VectorSearch, arrays: PassageArrays, sentence_vectors: SentenceVectors,
                      vector: np.ndarray, dense: tuple[np.ndarray, np.ndarray], terms: list[str], tokens: LexicalPool,
                      stems: LexicalPool | None = None) -> Candidates:
    """The pools together, each passage with every score; ``terms`` are the query's, ``dense`` a non-empty
    :func:`dense_hits`, ``tokens`` and ``stems`` the :func:`lexical_pool` of each lexical field."""
    dense_ids, dense_scores = dense
    candidates = dict.fromkeys(dense_ids.tolist())
    for pool in (tokens, stems):
        if pool is not None:
            candidates.update((hit.passage_id, None) for hit in pool.hits)
    ids = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
    position = {passage_id: i for i, passage_id in enumerate(ids.tolist())}
    # the dense pool comes first, with the cosines its search gave; only the lexical hits outside it are scored
    cosine = np.concatenate([np.asarray(dense_scores, dtype=np.float32),
                             np.asarray(vectors.score(vector[0], ids[len(dense_ids):]), dtype=np.float32)])

    def best_sentence(top: np.ndarray) -> np.ndarray:
        return best_sentence_cosine(ids[top], vector[0], cosine[top], arrays.sentences, sentence_vectors)

    return Candidates(ids, cosine, float(dense_scores.min()), float(dense_scores.max()), _evidence(tokens, position),
                      _evidence(stems, position) if stems is not None else None, _usable(arrays, ids, terms),
                      best_sentence)


def _evidence(pool: LexicalPool, position: dict[int, int]) -> Evidence:
    """A field's BM25 and matched IDF at each candidate's position."""
    bm25 = np.zeros(len(position))
    matched = np.zeros(len(position))
    query_mass = 1.0
    if pool.hits:
        idf = pool.search.idf(pool.searched)
        query_mass = sum(idf.values()) or 1.0
        mass_of: dict[frozenset[str], float] = {}  # hits share few distinct sets of matched terms
        for hit in pool.hits:
            i = position[hit.passage_id]
            bm25[i] = hit.score
            if hit.matched not in mass_of:
                mass_of[hit.matched] = sum(idf[t] for t in hit.matched)
            matched[i] = mass_of[hit.matched]
    return Evidence(bm25, matched, query_mass)


def best_sentence_cosine(ids: np.ndarray, query: np.ndarray, cosine: np.ndarray, sentences: SentenceSpans,
                         sentence_vectors: SentenceVectors) -> np.ndarray:
    """Each passage's highest sentence cosine with ``query`` (its own ``cosine`` where it has no sentence rows)."""
    first = sentences.first
    starts, counts = first[ids], first[ids + 1] - first[ids]
    similarity = sentence_vectors[run_rows(starts, counts)].astype(np.float32) @ query
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
