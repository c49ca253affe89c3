"""BM25 as sparse vectors: the product's own terms and statistics, so Milvus scores exactly as FTS5 does.

A passage's vector holds, for each of its terms, BM25's term-frequency part
``tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))``; a query's vector holds each query term's
IDF. Their inner product is the passage's BM25 score. Terms are the ones :func:`index.lexical.tokens`
writes (hazm-normalized, ZWNJ folded), never Milvus's analyzers.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from typing import Iterable, Sequence

# FTS5's bm25() constants, which the local backend ranks with
K1 = 1.2
B = 0.75
# Milvus takes dimensions below 2**32 - 1 and refuses an all-zero sparse vector: a passage without
# terms holds this one dimension, which no term hashes to, so no query ever matches it.
EMPTY = 2**32 - 2


def term_dimension(term: str) -> int:
    """The sparse dimension of a term: a stable 32-bit hash, the same in every version, so a passage's
    vector never depends on the rest of the vocabulary."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "little") % EMPTY


def passage_vector(terms: Sequence[str], average_length: float) -> dict[int, float]:
    """BM25 term weights of one passage from its terms (repeats kept, in any order)."""
    if not terms:
        return {EMPTY: 1.0}
    length_norm = K1 * (1 - B + B * len(terms) / average_length) if average_length else K1
    weights: dict[int, float] = {}
    for term, tf in Counter(terms).items():
        dimension = term_dimension(term)
        weights[dimension] = weights.get(dimension, 0.0) + tf * (K1 + 1) / (tf + length_norm)
    return weights


def query_vector(idf: dict[str, float]) -> dict[int, float]:
    """A query's sparse vector: each known term's IDF (terms no passage holds are left out)."""
    weights: dict[int, float] = {}
    for term, value in idf.items():
        if value > 0:
            dimension = term_dimension(term)
            weights[dimension] = weights.get(dimension, 0.0) + value
    return weights


def average_length(token_lists: Iterable[Sequence[str]]) -> float:
    """The mean passage length in terms, as FTS5 computes it for BM25."""
    total = count = 0
    for terms in token_lists:
        total += len(terms)
        count += 1
    return total / count if count else 0.0
