"""BM25 search over the FTS5 table of a version's ``lexical.sqlite`` (see :mod:`index.lexical`)."""
from __future__ import annotations

import math
import sqlite3
from functools import cached_property
from typing import Sequence

import numpy as np

from index.filter import Filter
from index.filter_index import FilterIndex
from index.lexical import STEMS, TOKENS, Field, has_stems
from index.lexical_search import LexicalHit, LexicalSearch


class FtsLexicalIndex(LexicalSearch):
    """BM25 queries against one field (:data:`index.lexical.TOKENS` by default) of the lexical index attached
    to a connection as ``lex``."""

    def __init__(self, db: sqlite3.Connection, field: Field = TOKENS, filters: FilterIndex | None = None) -> None:
        self.db = db
        self.field = field
        if filters is not None:  # the engine's, read once per version; else read on the first filtered search
            self.filters = filters
        # the count written with the table (checked against the rows when the version was opened): counting
        # FTS5 rows reads the whole table, on every new thread's connection
        self.passages = int(db.execute("SELECT value FROM lex.lexical_info WHERE key = 'passages'").fetchone()[0])

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """FTS5's BM25 IDF of each term: log((N - n + 0.5) / (n + 0.5)), at least 1e-6; 0 for an unknown term."""
        if not terms:
            return {}
        marks = ",".join("?" * len(terms))
        found = dict(self.db.execute(f"SELECT term, doc FROM lex.{self.field.vocabulary} WHERE term IN ({marks})", list(terms)))
        n = self.passages
        return {t: max(math.log((n - found[t] + 0.5) / (found[t] + 0.5)), 1e-6) if t in found else 0.0 for t in terms}

    def search(self, terms: Sequence[str], limit: int, filter: Filter | None = None,
               matched: bool = True) -> list[LexicalHit]:
        """Only rowids and scores are read: which terms each hit holds comes from one rowid-only query per
        term, answered from FTS5's index alone. Reading the hits' token text instead took most of a
        search's lexical time."""
        terms = list(dict.fromkeys(terms))
        if not terms:
            return []
        match = " OR ".join(map(_phrase, terms))
        table = self.field.table
        cursor = self.db.cursor()
        cursor.row_factory = None  # plain tuples: a sqlite3.Row per posting costs more than reading it
        if filter is None or filter.is_empty:
            rows = cursor.execute(
                f"SELECT rowid, -bm25({table}) FROM lex.{table} WHERE {table} MATCH ? ORDER BY bm25({table}) LIMIT ?",
                [match, limit]).fetchall()
        else:
            rows = self._filtered(cursor, match, filter, limit)
        if not matched:
            return [LexicalHit(rowid, score, frozenset()) for rowid, score in rows]
        holding = {term: {rowid for (rowid,) in cursor.execute(
            f"SELECT rowid FROM lex.{table} WHERE {table} MATCH ?", [_phrase(term)])} for term in terms}
        return [LexicalHit(rowid, score, frozenset([term for term in terms if rowid in holding[term]]))
                for rowid, score in rows]

    def _filtered(self, cursor: sqlite3.Cursor, match: str, filter: Filter, limit: int) -> list[tuple[int, float]]:
        """The ``limit`` best hits the filter keeps: the full-text match runs once, and its hits are kept by
        the per-passage category and day arrays (:class:`FilterIndex`), so the cost follows the hits, not
        the passages the filter allows (a SQL join over those grew with the archive: issue 12)."""
        table = self.field.table
        found = cursor.execute(f"SELECT rowid, -bm25({table}) FROM lex.{table} WHERE {table} MATCH ?", [match]).fetchall()
        if not found:
            return []
        ids = np.fromiter((rowid for rowid, _ in found), dtype=np.int64, count=len(found))
        scores = np.fromiter((score for _, score in found), dtype=np.float64, count=len(found))
        keep = np.flatnonzero(self.filters.mask(filter)[ids])
        best = keep[np.lexsort((ids[keep], -scores[keep]))[:limit]]  # best first; equal scores by passage id
        return list(zip(ids[best].tolist(), scores[best].tolist()))

    @cached_property
    def filters(self) -> FilterIndex:
        """Each passage's category and day, read from the version's database when none was given."""
        # every passage id, dead ones too: the lexical rows of dead passages may have been deleted (index.append)
        return FilterIndex(self.db, self.db.execute("SELECT count(*) FROM passages").fetchone()[0])


def stem_index(db: sqlite3.Connection, filters: FilterIndex | None = None) -> FtsLexicalIndex | None:
    """BM25 over the stems field of the lexical index attached to ``db``, or None for an index written
    before stems (lexical format 2)."""
    return FtsLexicalIndex(db, STEMS, filters) if has_stems(db) else None


def _phrase(term: str) -> str:
    """``term`` as an FTS5 string (our tokens hold no double quotes, so no query syntax can leak in)."""
    return f'"{term}"'
