"""How ``hybrid`` combines the dense and lexical scores of its candidates (normalized by :mod:`search.normalize`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search import normalize
from search.candidates import Candidates


@dataclass(frozen=True)
class Fusion:
    """A convex combination of normalized scores, as in txtai's hybrid search and OpenSearch's
    normalization processor, ``(1 - lexical_weight) * dense + lexical_weight * evidence``, where the
    lexical evidence is kept only where it means something (the reasons: docs/design.md).

    Dense: the cosine similarity, min-max normalized over the query's dense pool: 1 for the nearest
    passage, 0 for the farthest of the ``DENSE_POOL`` nearest.

    Lexical: BM25 divided by the score of a passage that holds every query term once at average length
    (the sum of the terms' IDFs), capped at 1.

    Evidence = that BM25 share times ``coverage ** coverage_power`` (coverage: the IDF-weighted share of
    query terms present); 0 for a passage holding no query term; but where the query has no word in the
    passage's script lexical matching is blind, and the evidence is missing rather than 0: the passage
    is ranked by its dense score alone (evidence := dense).
    """

    lexical_weight: float = 0.5
    coverage_power: float = 1.0

    def fuse(self, candidates: Candidates) -> np.ndarray:
        """The fused score of each candidate: its raw scores normalized, then combined."""
        dense = normalize.min_max(candidates.cosine, candidates.pool_low, candidates.pool_high)
        lexical = normalize.bm25_share(candidates.bm25, candidates.query_mass)
        coverage = normalize.coverage(candidates.matched, candidates.query_mass)
        return self.combine(dense, lexical, coverage, candidates.usable)

    def combine(self, dense: np.ndarray, lexical: np.ndarray, coverage: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """The combination of scores already normalized to [0, 1]; ``usable`` marks where lexical evidence counts."""
        evidence = np.where(usable, lexical * coverage ** self.coverage_power, dense)
        return (1.0 - self.lexical_weight) * dense + self.lexical_weight * evidence


DEFAULT_FUSION = Fusion()
