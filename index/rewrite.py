"""An update's new version, read as :func:`index.store.write_version` writes it: the articles it keeps
from the live version, read back from there a block at a time, and the ones just embedded.

An update used to read every stored article, passage and vector into memory before writing (3.3 GB at
10^5 passages); now only the articles' ids and passage counts are held, so an update's memory does not
grow with the archive either (docs/design.md, "Updates").
"""
from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from index.articles import Article
from index.lexical import LEXICAL_FORMAT, Analyzed, stored_format
from index.passages import Passage
from index.records import ARTICLE_FIELDS, article_from_row
from index.rows import Walk
from index.tombstones import Tombstones, rows_for
from index.verify import IndexVersion

BLOCK_ARTICLES = 1000  # articles read back from the live version at a time

StoredPassage = tuple[int, Passage, list[int]]
"""A stored passage: its id, itself, and its sentences' rows in the version's sentence vectors."""


@dataclass
class Embedded:
    """One article's passages with their vectors and their sentences' vectors."""

    passages: list[Passage]
    vectors: np.ndarray
    sentence_vectors: np.ndarray


def stored_hashes(version: IndexVersion, ids: Sequence[str]) -> dict[str, str]:
    """The content hash (``records.content_hash``) of each of these articles the version holds, but those deleted
    since the last merge: what an update compares incoming articles with, looked up by id (reading every
    article's took 1 s at 10^6 passages)."""
    with closing(version.connect()) as db:
        return {aid: digest for aid, digest in rows_for(db, "SELECT id, content_hash FROM articles WHERE id IN", list(ids))
                if aid not in version.tombstones.articles}


def stored_order(version: IndexVersion) -> list[str]:
    """Every article's id in index order, but those deleted since the last merge: the order a merge keeps."""
    live, parameters = version.tombstones.excluded("id")
    with closing(version.connect()) as db:
        return [aid for (aid,) in db.execute(f"SELECT id FROM articles WHERE 1{live} ORDER BY rowid", parameters)]


def articles_by_id(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, Article]:
    """The stored articles with these ids, as they were ingested."""
    return {row[0]: article_from_row(row) for row in rows_for(db, f"SELECT {ARTICLE_FIELDS} FROM articles WHERE id IN", ids)}


class Rewrite:
    """The articles of ``order`` (ids) with their passages and vectors, in that order, as rows that can be
    read again (:class:`index.rows.Rows`) and vector blocks: an article in ``embedded`` has its new
    passages and vectors, every other one the live version's; its fields are ``incoming``'s when given
    there, else the live version's. Each walk reads the live version again, a block of articles at a time."""

    def __init__(self, live: IndexVersion, order: list[str], incoming: dict[str, Article],
                 embedded: dict[str, Embedded]) -> None:
        self.live = live
        self.order = order
        self.incoming = incoming
        self.embedded = embedded
        dead = live.tombstones.passage_set  # replaced passages of live articles (index.append)
        counts: dict[str, int] = {}
        sentences: dict[str, int] = {}
        with closing(live.connect()) as db:  # one pass over each table: a count per article
            for passage_id, article_id, sentence_count in db.execute(
                    "SELECT p.id, p.article_id, (SELECT count(*) FROM sentences s WHERE s.passage_id = p.id) FROM passages p"):
                if passage_id not in dead:
                    counts[article_id] = counts.get(article_id, 0) + 1
                    sentences[article_id] = sentences.get(article_id, 0) + sentence_count
        stored = [aid for aid in order if aid not in embedded]
        self.passages = sum(counts.get(aid, 0) for aid in stored) + sum(len(e.passages) for e in embedded.values())
        self.sentences = (sum(sentences.get(aid, 0) for aid in stored)
                          + sum(len(e.sentence_vectors) for e in embedded.values()))

    def articles(self) -> Walk[Article]:
        return Walk(len(self.order), self._articles)

    def passage_rows(self) -> Walk[Passage]:
        return Walk(self.passages, lambda: (p for block in self._blocks(False) for p in block.passages))

    def vector_blocks(self) -> Iterator[np.ndarray]:
        return (block.vectors for block in self._blocks(True))

    def sentence_vector_blocks(self) -> Iterator[np.ndarray]:
        return (block.sentence_vectors for block in self._blocks(True))

    def lexical(self) -> Iterator[str | Analyzed] | None:
        """What the lexical index reads of each passage, in order: a kept passage's row copied from the live
        version, an embedded one's title and text to analyze; None when the live version's lexical rows
        were made by other rules (another :data:`LEXICAL_FORMAT`), so every passage must be analyzed."""
        with closing(self.live.connect()) as db:
            made_by = stored_format(db)
        return self._lexical() if made_by == str(LEXICAL_FORMAT) else None

    def text_keys(self) -> dict[str, str]:
        """The live version's duplicate key (``duplicates.text_key``) of each article whose text is kept;
        none from a version written before the keys were stored."""
        kept = [aid for aid in self.order if aid not in self.embedded]
        with closing(self.live.connect()) as db:
            try:
                return dict(rows_for(db, "SELECT id, text_key FROM articles WHERE id IN", kept))
            except sqlite3.OperationalError:  # no such column
                return {}

    def _lexical(self) -> Iterator[str | Analyzed]:
        with closing(self.live.connect()) as db:
            for ids in self._id_blocks():
                stored = _stored_passages(db, [aid for aid in ids if aid not in self.embedded], self.live.tombstones)
                wanted = [passage_id for items in stored.values() for passage_id, _, _ in items]
                rows = {rowid: Analyzed(tokens, script) for rowid, tokens, script in
                        rows_for(db, "SELECT id, c0, c1 FROM lexical_content WHERE id IN", wanted)}
                for aid in ids:
                    if aid in self.embedded:
                        title = self.incoming[aid].title  # what was embedded came in with the update
                        yield from (f"{title}\n{passage.text}" for passage in self.embedded[aid].passages)
                    else:
                        yield from (rows[passage_id] for passage_id, _, _ in stored.get(aid, []))

    def _articles(self) -> Iterator[Article]:
        with closing(self.live.connect()) as db:
            for ids in self._id_blocks():
                stored = articles_by_id(db, [aid for aid in ids if aid not in self.incoming])
                yield from (self.incoming.get(aid) or stored[aid] for aid in ids)

    def _blocks(self, vectors: bool) -> Iterator[Embedded]:
        """Each block of articles' passages and, when ``vectors``, their vectors, in order (empty arrays
        stand in for the vectors when not asked for)."""
        none = np.zeros((0, 0), dtype=np.float32)
        with closing(self.live.connect()) as db:
            for ids in self._id_blocks():
                stored = _stored_passages(db, [aid for aid in ids if aid not in self.embedded], self.live.tombstones)
                passages = [passage for aid in ids for passage in
                            (self.embedded[aid].passages if aid in self.embedded else [p for _, p, _ in stored.get(aid, [])])]
                yield Embedded(passages, *(self._vectors(ids, stored) if vectors else (none, none)))

    def _vectors(self, ids: list[str], stored: dict[str, list[StoredPassage]]) -> tuple[np.ndarray, np.ndarray]:
        """A block's passage and sentence vectors in order: the stored articles' read from the live version
        in one go, the embedded ones' put in their places."""
        items = {aid: stored.get(aid, []) for aid in ids if aid not in self.embedded}
        read, read_sentences = _read_vectors(self.live, [item for run in items.values() for item in run])
        parts, sentence_parts = [], []
        row = sentence_row = 0
        for aid in ids:
            if aid in self.embedded:
                parts.append(self.embedded[aid].vectors)
                sentence_parts.append(self.embedded[aid].sentence_vectors)
                continue
            passages, sentences = len(items[aid]), sum(len(rows) for _, _, rows in items[aid])
            parts.append(read[row:row + passages])
            sentence_parts.append(read_sentences[sentence_row:sentence_row + sentences])
            row, sentence_row = row + passages, sentence_row + sentences
        return np.concatenate(parts), np.concatenate(sentence_parts)

    def _id_blocks(self) -> Iterator[list[str]]:
        for start in range(0, len(self.order), BLOCK_ARTICLES):
            yield self.order[start:start + BLOCK_ARTICLES]


def stored_passages(version: IndexVersion) -> dict[str, tuple[list[Passage], np.ndarray, np.ndarray]]:
    """Every article's passages in order, with their vectors and their sentences' vectors, read back whole
    (but those of articles deleted since the last merge): for checking an index; an update reads them a
    block at a time (:class:`Rewrite`)."""
    ids = stored_order(version)
    found: dict[str, tuple[list[Passage], np.ndarray, np.ndarray]] = {}
    with closing(version.connect()) as db:
        for start in range(0, len(ids), BLOCK_ARTICLES):
            block = _stored_passages(db, ids[start:start + BLOCK_ARTICLES], version.tombstones)
            for article_id, items in block.items():
                found[article_id] = ([passage for _, passage, _ in items], *_read_vectors(version, items))
    return {article_id: found[article_id] for article_id in ids if article_id in found}


def _read_vectors(version: IndexVersion, items: Sequence[StoredPassage]) -> tuple[np.ndarray, np.ndarray]:
    """The passage vectors and sentence vectors of these stored passages, in order."""
    dimension = version.manifest["dimension"]
    vectors = version.vectors.vectors(np.array([passage_id for passage_id, _, _ in items], dtype=np.int64))
    rows = [row for _, _, sentence_rows in items for row in sentence_rows]
    sentence_vectors = np.asarray(version.sentence_vectors[rows], dtype=np.float32)
    return vectors.reshape(len(items), dimension), sentence_vectors.reshape(len(rows), dimension)


def _stored_passages(db: sqlite3.Connection, ids: Sequence[str], tombstones: Tombstones) -> dict[str, list[StoredPassage]]:
    """Each of these articles' live passages in order (an article re-embedded by an update that appended
    still has its old passages, dead, in the version)."""
    grouped: dict[str, list[StoredPassage]] = {}
    dead = tombstones.passage_set
    rows = [row for row in rows_for(db, "SELECT id, article_id, position, start, end, text FROM passages WHERE article_id IN", ids)
            if row[0] not in dead]
    spans: dict[int, list[tuple[int, int, int]]] = {}
    for rowid, passage_id, start, end in rows_for(
            db, "SELECT s.rowid, s.passage_id, s.start, s.end FROM sentences s JOIN passages p ON p.id = s.passage_id "
                "WHERE p.article_id IN", ids):
        spans.setdefault(passage_id, []).append((rowid - 1, start, end))
    for passage_id, article_id, position, start, end, text in sorted(rows, key=lambda row: (row[1], row[2])):
        sentences = sorted(spans.get(passage_id, []))
        passage = Passage(article_id, position, start, end, text, tuple((s, e) for _, s, e in sentences))
        grouped.setdefault(article_id, []).append((passage_id, passage, [row for row, _, _ in sentences]))
    return grouped
