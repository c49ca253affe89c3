"""The lexical-search interface (terms, limit, filter -> BM25 hits; IDF) and the cap on query terms."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

from index.filter import Filter

# The most distinct terms of one query that lexical search reads: each term costs a posting-list read,
# and a long query of common words would otherwise read most of the index. Past the cap the terms with
# the highest IDF (the rarest, which carry the query) are kept.
MAX_QUERY_TERMS = 32
# Where KAVOSH_LEXICAL=auto reads tantivy instead of FTS5 (search.backends.lexical_engine), and where an appending
# update writes a segment instead of copying the databases (index.segments): FTS5 scores every passage holding a
# query term, tantivy skips what cannot reach the top. Below this FTS5 costs a few milliseconds, and it is the
# engine the ranking's defaults were chosen with (docs/benchmarks.md, "Lexical search at scale").
TANTIVY_FROM = 20_000


@dataclass
class LexicalHit:
    passage_id: int
    score: float  # BM25, higher is better
    matched: frozenset[str]  # the query terms found in the passage (empty when the search was not asked for them)


class LexicalSearch(ABC):
    """BM25 over the passages of one index version."""

    @abstractmethod
    def search(self, terms: Sequence[str], limit: int, filter: Filter | None = None,
               matched: bool = True) -> list[LexicalHit]:
        """Passages holding any of ``terms``, best BM25 first, at most ``limit``; ``filter`` restricts
        them to the articles it keeps. With ``matched=False`` each hit's ``matched`` is left empty: which
        terms a hit holds costs another read of every term's postings, and only hybrid's coverage needs it."""

    @abstractmethod
    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """The BM25 IDF of each term (0 for a term no passage holds)."""


def strongest_terms(terms: Sequence[str], idf: dict[str, float], limit: int = MAX_QUERY_TERMS) -> list[str]:
    """``terms`` (distinct) cut to the ``limit`` with the highest IDF, in their query order."""
    if len(terms) <= limit:
        return list(terms)
    kept = set(sorted(terms, key=lambda term: (-idf[term], terms.index(term)))[:limit])
    return [term for term in terms if term in kept]
