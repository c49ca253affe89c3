"""How ``hybrid`` combines the dense and lexical scores of its candidates (normalized by :mod:`search.normalize`),
and re-ranks the best of them by their best sentence."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search import normalize
from search.candidates import Candidates, Evidence

RERANK_DEPTH = 100  # passages whose best sentence is compared with the query (see Fusion.sentence_weight)


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
    # The RERANK_DEPTH best passages are fused again with their cosine replaced by
    # ``(1 - sentence_weight) * cosine + sentence_weight * best-sentence cosine``: a query that restates one
    # sentence of a long passage (a headline, a question) is matched by that sentence, not diluted by the rest.
    sentence_weight: float = 0.0
    # The evidence on words and the same evidence on their hazm stems are mixed as
    # ``(1 - stem_weight) * words + stem_weight * stems`` (words alone where the index has no stems field).
    stem_weight: float = 0.0

    def fuse(self, candidates: Candidates) -> np.ndarray:
        """The fused score of each candidate: its raw scores normalized, then combined; the best
        ``RERANK_DEPTH`` again with their best sentence blended into their cosine."""
        lexical = self.evidence(candidates.tokens)
        if candidates.stems is not None and self.stem_weight:
            lexical = (1.0 - self.stem_weight) * lexical + self.stem_weight * self.evidence(candidates.stems)

        def fused(cosine: np.ndarray) -> np.ndarray:
            dense = normalize.min_max(cosine, candidates.pool_low, candidates.pool_high)
            return self.combine(dense, lexical, candidates.usable)

        scores = fused(candidates.cosine)
        if self.sentence_weight:
            top = np.argsort(-scores, kind="stable")[:RERANK_DEPTH]
            cosine = candidates.cosine
            blended = cosine.copy()
            blended[top] += self.sentence_weight * (candidates.best_sentence(top) - cosine[top])
            scores[top] = fused(blended)[top]
        return scores

    def evidence(self, field: Evidence) -> np.ndarray:
        """One lexical field's evidence in [0, 1]: its BM25 share times its coverage to ``coverage_power``."""
        share = normalize.bm25_share(field.bm25, field.query_mass)
        return share * normalize.coverage(field.matched, field.query_mass) ** self.coverage_power

    def combine(self, dense: np.ndarray, lexical: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """The combination of the dense score and the lexical evidence, both in [0, 1]; ``usable`` marks
        where lexical evidence counts."""
        evidence = np.where(usable, lexical, dense)
        return (1.0 - self.lexical_weight) * dense + self.lexical_weight * evidence


# chosen on the full shared tasks, one half of each task's queries at a time (docs/benchmarks.md, issue 15)
DEFAULT_FUSION = Fusion(lexical_weight=0.5, sentence_weight=0.1, stem_weight=0.75)
