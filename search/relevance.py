"""Which ranked articles count as results: those whose best passage is close enough to the query.

A dense ranking orders every article, so without a threshold a query about nothing in the archive still
"finds" all of them. An article counts when the cosine similarity of its best candidate passage reaches
the threshold calibrated for the model (``bench/relevance_threshold.py``; the figures and the reasoning
are in docs/benchmarks.md and docs/design.md). Lexical ranking needs none: an article holding a query word
is an honest match. For a model without a calibrated threshold every ranked article is kept and the
page speaks of "best matches" rather than a count.
"""
from __future__ import annotations

from typing import Any

import numpy as np

# cosine similarity (query: / passage: prompts) of the best passage, per model name
RELEVANCE_COSINE = {"intfloat/multilingual-e5-small": 0.85}


def threshold_for(model: str) -> float | None:
    """The calibrated threshold of ``model``, or None when it has none."""
    return RELEVANCE_COSINE.get(model)


def keep_relevant(engine: Any, ranked: list, normalized: str, method: str) -> list:
    """The entries of ``ranked`` (article id, its passages best first, duplicate ids) that count as results."""
    threshold = engine.relevance_threshold
    if threshold is None or method == "lexical" or not ranked:
        return ranked
    vector = engine._query_vector(normalized)[0]
    passage_ids = np.array([passage_id for _, passages, _ in ranked for passage_id, _ in passages], dtype=np.int64)
    cosines = engine._matrix[engine._row_of[passage_ids]] @ vector
    kept, start = [], 0
    for entry in ranked:
        end = start + len(entry[1])
        if cosines[start:end].max() >= threshold:
            kept.append(entry)
        start = end
    return kept
