"""The lexical index a second time, in tantivy: BM25 whose top-k skips the postings that cannot reach the top.

FTS5 scores every passage holding a query term, so lexical search grows with the archive (145 ms at 10^6
passages); tantivy's block-max WAND answered the same terms in about 3 ms (docs/benchmarks.md, "Lexical
search at 10^6 passages"). Every version holds both; which one a search reads is ``KAVOSH_LEXICAL``
(:func:`search.backends.lexical_engine`). Why both, and what differs: docs/design.md ("Lexical search at scale").

The folder ``lexical.tantivy`` holds one tantivy document per passage of ``index.sqlite``: its id, the terms
and stems ``lexical.sqlite`` holds for it (written from there, so the two engines read the same terms), its
article's category and day. Tantivy writes segments and never changes a file it wrote, so an appending update
hard-links the live version's segments and adds one (:func:`write_tantivy` with ``live``), and a deletion's
version links them all: what an update writes to this index is what it adds. Dead passages (deleted, or
replaced by an update) stay in it, as in a deletion's FTS5 table, and are dropped from the hits by the engine's
mask of dead passages; a merge (a rebuild, ``index.update --rewrite``) writes the index anew without them.
"""
from __future__ import annotations

import itertools
import os
import sqlite3
from contextlib import closing
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from index.durable import fsync_dir, fsync_file, link_or_copy
from index.filter import Filter
from index.layout import TANTIVY
from index.lexical_search import LexicalHit, LexicalSearch
from index.segments import connect_version
from index.term_table import MAX_PARTS, PartWriter, TermTable, fold_parts, part_files, part_firsts
from index.tombstones import rows_for

ANALYZER = "kavosh_terms"  # our terms, joined by spaces: split at spaces, nothing else (tantivy's own drop long words)
LOCKS = frozenset({".tantivy-meta.lock", ".tantivy-writer.lock"})  # tantivy's lock files: not part of a version
WRITER_HEAP = 200_000_000  # bytes tantivy buffers before it writes a segment (its minimum is 15 MB)
# every passage of the database, a dead one (its lexical rows deleted by an update) without terms: the index
# then holds one document per passage, which opening a version checks. The terms by scalar subqueries, not LEFT
# JOINs: SQLite materializes a view of several segments (index.segments) on the right of a LEFT JOIN, every
# passage's terms (12 s at 10^6 passages), where a subquery is one lookup by id in each file.
ROWS = """SELECT p.id, a.cat, a.date, coalesce((SELECT c0 FROM lexical_content WHERE id = p.id), ''),
          coalesce((SELECT c0 FROM lexical_stems_content WHERE id = p.id), '')
          FROM passages p JOIN articles a ON a.id = p.article_id"""
WORDS, STEMS = "tokens", "stems"  # the two BM25 fields, as in lexical.sqlite
Row = tuple[int, "str | None", "str | None", str, str]  # what ROWS reads: passage id, category, date, terms, stems


def _tantivy():
    import tantivy  # imported where this engine is used: servers that read FTS5 only never load it

    return tantivy


@lru_cache(maxsize=1)
def schema():
    """Terms and stems (frequencies, no positions: BM25 needs no more), the passage id (to read hits back and
    to know which passages the index holds), category and day (indexed, for filters evaluated inside the
    top-k search)."""
    tantivy = _tantivy()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field(WORDS, tokenizer_name=ANALYZER, index_option="freq")
    builder.add_text_field(STEMS, tokenizer_name=ANALYZER, index_option="freq")
    builder.add_integer_field("pid", indexed=True, fast=True)
    builder.add_text_field("category", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("day", indexed=True, fast=True)
    return builder.build()


def _open(folder: Path, create: bool = False):
    tantivy = _tantivy()
    index = tantivy.Index(schema(), path=str(folder), reuse=False) if create else tantivy.Index.open(str(folder))
    index.register_tokenizer(ANALYZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build())
    # a version's index never changes once written: no thread watching its meta.json for commits (tantivy's
    # default), which a server would also carry over gunicorn's fork
    index.config_reader(reload_policy="Manual", num_warmers=0)
    return index


def write_tantivy(version: Path, first: int = 0, live: Path | None = None, renewed: Sequence[int] = (),
                  segments: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """Write the tantivy index of the version being written in ``version`` (its ``index.sqlite``,
    ``lexical.sqlite`` and ``segments``, :mod:`index.segments`, written already): the passages from id ``first`` on, added to the live version's index
    (the folder ``live``, its files hard-linked) when given, else all of them into a new one. ``renewed``: kept
    passages whose article's category or date an update may have changed, written again (their documents
    replaced). Returns the version's tantivy files (names relative to ``version``) and those linked from ``live``."""
    folder = version / TANTIVY
    folder.mkdir()
    table = [] if live is None else part_firsts(live / TANTIVY)  # the live version's term table parts
    folded = table[1:] if len(table) >= MAX_PARTS else []
    not_linked = LOCKS | {name for first in folded for name in part_files(first)}  # the folded parts: written again
    linked = [] if live is None else [f"{TANTIVY}/{path.name}" for path in sorted((live / TANTIVY).iterdir())
                                      if path.name not in not_linked and link_or_copy(path, folder / path.name)]
    if folded:
        fold_parts(folder, folded, live / TANTIVY)
    # a live version written before the term table has none: its passages' terms are read from SQLite, and so
    # are this version's until a merge
    part = PartWriter(first) if live is None or table else None
    with closing(connect_version(version, segments)) as db:
        renewed_rows = rows_for(db, ROWS + " WHERE p.id IN", [int(i) for i in renewed])
        new_rows = db.execute(ROWS + " WHERE p.id >= ? ORDER BY p.id", [first])
        build_tantivy(folder, itertools.chain(renewed_rows, part.recording(new_rows) if part else new_rows),
                      create=live is None, replacing=renewed)
    if part is not None and len(part.ends):
        part.write(folder)
    files = [f"{TANTIVY}/{path.name}" for path in sorted(folder.iterdir()) if path.name not in LOCKS]
    # tantivy replaces meta.json on commit and a merge replaces segments: linked are those still the live's files
    linked = [name for name in linked if (version / name).exists() and os.path.samefile(live / name, version / name)]
    for name in set(files) - set(linked):  # the linked ones are the live version's, synced when it was written
        fsync_file(version / name)
    fsync_dir(folder)
    return files, linked


def build_tantivy(folder: Path, rows: Iterable[Row], create: bool = True, replacing: Sequence[int] = ()) -> None:
    """Add a document for each row (passage id, category, ISO date, terms, stems) to the tantivy index in
    ``folder`` (a new one when ``create``), those of the ``replacing`` passage ids taking their place, and commit."""
    writer = _open(folder, create).writer(heap_size=WRITER_HEAP, num_threads=1)
    for passage_id in replacing:
        writer.delete_documents_by_term("pid", int(passage_id))  # applies to the documents added before it only
    for row in rows:
        writer.add_document(_document(*row))
    writer.commit()
    writer.wait_merging_threads()  # a merge tantivy starts on commit ends before the files are listed
    _collect_garbage(folder)


def _document(passage_id: int, category: str | None, day: str | None, terms: str, stems: str):
    document = _tantivy().Document(pid=passage_id, category=category or "", tokens=terms, stems=stems)
    if day:
        document.add_integer("day", date.fromisoformat(day).toordinal())
    return document


def _collect_garbage(folder: Path) -> None:
    """Remove the segments a merge replaced (tantivy removes them on the next writer's collection)."""
    writer = _open(folder).writer(heap_size=15_000_000, num_threads=1)
    writer.garbage_collect_files()
    writer.wait_merging_threads()


def tantivy_files(manifest: dict) -> list[str]:
    """The version's tantivy files its manifest lists (none for a version written before them)."""
    return [name for name in manifest.get("files", {}) if name.startswith(TANTIVY + "/")]


def check_tantivy(version: Path, passages: int) -> str | None:
    """What is wrong with the version's tantivy index, or None when it holds one document per passage."""
    try:
        held = _open(version / TANTIVY).searcher().num_docs
    except Exception as exc:  # tantivy raises ValueError, OSError or its own errors for a damaged index
        return f"{TANTIVY} cannot be read ({exc})"
    if held != passages:
        return f"{TANTIVY} holds {held} passages, the version has {passages}"
    try:
        table = TermTable.load(version / TANTIVY)
    except (OSError, ValueError) as exc:  # numpy raises ValueError for a damaged .npy header
        return f"{TANTIVY}'s term table cannot be read ({exc})"
    problem = table.problem(passages) if table is not None else None
    return f"{TANTIVY}: {problem}" if problem else None


class TantivyIndex:
    """One version's tantivy index (its folder ``lexical.tantivy``), opened once and shared by every thread that
    searches it."""

    def __init__(self, folder: Path) -> None:
        self.searcher = _open(folder).searcher()
        self.documents = self.searcher.num_docs  # every passage, dead ones too: what tantivy's BM25 counts
        self.terms = TermTable.load(folder)  # which terms each passage holds; None in versions written before it

    def field(self, field: str, db: sqlite3.Connection) -> "TantivyLexicalIndex":
        """BM25 over ``field`` (:data:`WORDS` or :data:`STEMS`) for the thread holding ``db`` (the version's
        connection, for the terms each hit holds)."""
        return TantivyLexicalIndex(self, field, db)


class TantivyLexicalIndex(LexicalSearch):
    """BM25 over one field of a version's tantivy index. Scores are tantivy's (k1 1.2, b 0.75, Lucene's IDF);
    :meth:`idf` is that IDF, so that the fusion's share of the best possible score means what it does for FTS5."""

    def __init__(self, index: TantivyIndex, field: str, db: sqlite3.Connection) -> None:
        self.index = index
        self.field = field
        self.db = db  # the terms each hit holds are read from lexical.sqlite's stored rows
        self.content = "lexical_content" if field == WORDS else "lexical_stems_content"

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """tantivy's IDF, ln(1 + (N - n + 0.5) / (n + 0.5)); 0 for a term no passage holds."""
        n = self.index.documents
        found = {term: self.index.searcher.doc_freq(self.field, term) for term in terms}
        return {term: float(np.log1p((n - df + 0.5) / (df + 0.5))) if df else 0.0 for term, df in found.items()}

    def search(self, terms: Sequence[str], limit: int, filter: Filter | None = None,
               matched: bool = True) -> list[LexicalHit]:
        """The filter is part of the query (category term, day range), so tantivy's top-k reads only what
        it keeps; which terms each hit holds comes from the hits' stored terms, a read per hit, whatever the
        archive's size (per-term postings grow with it)."""
        terms = list(dict.fromkeys(terms))
        if not terms:
            return []
        tantivy = _tantivy()
        query = tantivy.Query.boolean_query([(tantivy.Occur.Should, tantivy.Query.term_query(schema(), self.field, term))
                                             for term in terms])
        if filter is not None and not filter.is_empty:
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query),
                                                 *((tantivy.Occur.Must, tantivy.Query.const_score_query(clause, 0.0))
                                                   for clause in _filter_clauses(filter))])
        searcher = self.index.searcher
        found = searcher.search(query, limit, count=False).hits
        ids = searcher.fast_field_values("pid", [address for _, address in found])
        # equal scores by passage id, as FTS5's filtered search orders them
        hits = sorted(zip(ids, (score for score, _ in found)), key=lambda hit: (-hit[1], hit[0]))
        if not matched:
            return [LexicalHit(passage_id, score, frozenset()) for passage_id, score in hits]
        holds = dict(self._stored_terms([passage_id for passage_id, _ in hits], set(terms)))
        return [LexicalHit(passage_id, score, holds.get(passage_id, frozenset())) for passage_id, score in hits]

    def _stored_terms(self, ids: list[int], wanted: set[str]) -> Iterator[tuple[int, frozenset[str]]]:
        """Each hit's query terms: from the term table (:mod:`index.term_table`) for the words where the version
        has one, else from its stored row read as bytes (decoding a thousand rows of Persian into str cost a
        fifth of the time, docs/benchmarks.md)."""
        if self.field == WORDS and self.index.terms is not None:
            return self.index.terms.holding(ids, sorted(wanted))
        return self._rows_terms(ids, wanted)

    def _rows_terms(self, ids: list[int], wanted: set[str]) -> Iterator[tuple[int, frozenset[str]]]:
        encoded = {term.encode(): term for term in wanted}
        keys = set(encoded)
        for passage_id, stored in rows_for(self.db, f"SELECT id, CAST(c0 AS BLOB) FROM {self.content} WHERE id IN", ids):
            yield passage_id, frozenset(encoded[term] for term in keys.intersection(stored.split()))


def _filter_clauses(filter: Filter) -> Iterator:
    tantivy = _tantivy()
    if filter.category is not None:
        yield tantivy.Query.term_query(schema(), "category", filter.category)
    if filter.date_from is not None or filter.date_to is not None:
        yield tantivy.Query.range_query(schema(), "day", tantivy.FieldType.Integer,
                                        filter.date_from.toordinal() if filter.date_from else None,
                                        filter.date_to.toordinal() if filter.date_to else None)
