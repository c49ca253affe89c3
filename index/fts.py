"""BM25 search over the FTS5 table of a version's ``lexical.sqlite`` (see :mod:`index.lexical`)."""
from __future__ import annotations

import math
import sqlite3
from typing import Sequence

from index.filter import Filter
from index.lexical import STEMS, TOKENS, Field, has_stems
from index.lexical_search import LexicalHit, LexicalSearch


class FtsLexicalIndex(LexicalSearch):
    """BM25 queries against one field (:data:`index.lexical.TOKENS` by default) of the lexical index attached
    to a connection as ``lex``."""

    def __init__(self, db: sqlite3.Connection, field: Field = TOKENS) -> None:
        self.db = db
        self.field = field
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
        if filter is None or filter.is_empty:
            rows = self.db.execute(
                f"SELECT rowid, -bm25({table}) FROM lex.{table} WHERE {table} MATCH ? ORDER BY bm25({table}) LIMIT ?",
                [match, limit]).fetchall()
        else:
            # The full-text match runs once, materialized, and the filter is applied to its hits: with the
            # filter inside the MATCH query SQLite looked each allowed passage up in FTS5, one MATCH per passage.
            allowed, params = filter_sql(filter)
            rows = self.db.execute(
                f"WITH hits AS MATERIALIZED (SELECT rowid AS id, bm25({table}) AS rank FROM lex.{table} "
                f"WHERE {table} MATCH ?) SELECT id, -rank FROM hits WHERE id IN ({allowed}) ORDER BY rank LIMIT ?",
                [match, *params, limit]).fetchall()
        if not matched:
            return [LexicalHit(rowid, score, frozenset()) for rowid, score in rows]
        holding = {term: {rowid for (rowid,) in self.db.execute(
            f"SELECT rowid FROM lex.{table} WHERE {table} MATCH ?", [_phrase(term)])} for term in terms}
        return [LexicalHit(rowid, score, frozenset([term for term in terms if rowid in holding[term]]))
                for rowid, score in rows]


def stem_index(db: sqlite3.Connection) -> FtsLexicalIndex | None:
    """BM25 over the stems field of the lexical index attached to ``db``, or None for an index written
    before stems (lexical format 2)."""
    return FtsLexicalIndex(db, STEMS) if has_stems(db) else None


def filter_sql(filter: Filter) -> tuple[str, list]:
    """A SELECT of the passage ids of the articles ``filter`` keeps (over ``main.passages`` / ``main.articles``),
    with its parameters."""
    conditions, params = [], []
    if filter.category is not None:
        conditions.append("a.cat = ?")
        params.append(filter.category)
    if filter.date_from is not None:
        conditions.append("a.date >= ?")  # NULL dates fail every comparison: undated articles drop out
        params.append(filter.date_from.isoformat())
    if filter.date_to is not None:
        conditions.append("a.date <= ?")
        params.append(filter.date_to.isoformat())
    sql = "SELECT p.id FROM main.passages p JOIN main.articles a ON a.id = p.article_id"
    return (sql + " WHERE " + " AND ".join(conditions) if conditions else sql), params


def _phrase(term: str) -> str:
    """``term`` as an FTS5 string (our tokens hold no double quotes, so no query syntax can leak in)."""
    return f'"{term}"'
