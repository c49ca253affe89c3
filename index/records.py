"""A version's database of articles, passages and sentences: schema, writing, reading back."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Sequence

import numpy as np

from index.articles import Article
from index.duplicates import duplicate_groups
from index.durable import fsync_file
from index.passages import Passage, Passages
from index.verify import IndexVersion

SCHEMA = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    link TEXT NOT NULL,
    cat TEXT NOT NULL,
    subcat TEXT NOT NULL,
    tags TEXT NOT NULL,
    date TEXT,
    lang TEXT,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    duplicate_of TEXT NOT NULL  -- the first article with the same link or the same normalized text; itself if none
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id),
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE sentences (
    passage_id INTEGER NOT NULL REFERENCES passages(id),
    start INTEGER NOT NULL,  -- offsets in the passage's text
    end INTEGER NOT NULL
);
CREATE INDEX passages_by_article ON passages(article_id, position);
CREATE INDEX sentences_by_passage ON sentences(passage_id);
CREATE INDEX articles_by_cat ON articles(cat);
CREATE INDEX articles_by_date ON articles(date);
"""


def content_hash(article: Article) -> str:
    """Fingerprint of what gets embedded, so an unchanged article can be recognised later."""
    return hashlib.sha256(f"{article.title}\n{article.text}".encode()).hexdigest()


def write_database(path: Path, articles: Sequence[Article], passages: Passages) -> None:
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        canonical = duplicate_groups(articles)
        db.executemany(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (a.id, a.title, a.text, a.link, a.cat, a.subcat, json.dumps(a.tags, ensure_ascii=False),
                 a.date, a.lang, a.source, content_hash(a), canonical[a.id])
                for a in articles
            ),
        )
        db.executemany(
            "INSERT INTO passages VALUES (?,?,?,?,?,?)",
            ((i, p.article_id, p.position, p.start, p.end, p.text) for i, p in enumerate(passages)),
        )
        db.executemany(
            "INSERT INTO sentences (passage_id, start, end) VALUES (?,?,?)",
            ((i, start, end) for i, p in enumerate(passages) for start, end in p.sentences),
        )
        db.commit()
    finally:
        db.close()
    fsync_file(path)


def stored_articles(version: IndexVersion) -> dict[str, Article]:
    """Every article of a version (but those deleted since its last merge), in index order, as it was ingested."""
    live, parameters = version.tombstones.excluded("id")
    db = version.connect()
    try:
        rows = db.execute("SELECT id, title, text, link, cat, subcat, tags, date, lang, source FROM articles "
                          f"WHERE 1{live} ORDER BY rowid", parameters)
        return {
            row["id"]: Article(row["id"], row["title"], row["text"], row["link"], row["cat"], row["subcat"],
                               json.loads(row["tags"]), row["date"], row["lang"], row["source"])
            for row in rows
        }
    finally:
        db.close()


def stored_passages(version: IndexVersion) -> dict[str, tuple[list[Passage], np.ndarray, np.ndarray]]:
    """Each article's passages in order, with their vectors and their sentences' vectors, read back from a version
    (but those of articles deleted since its last merge)."""
    live, parameters = version.tombstones.excluded("article_id")
    db = version.connect()
    try:
        sentences: dict[int, list[tuple[int, int, int]]] = {}
        for rowid, passage_id, start, end in db.execute("SELECT rowid, passage_id, start, end FROM sentences ORDER BY rowid"):
            sentences.setdefault(passage_id, []).append((rowid - 1, start, end))
        grouped: dict[str, list[tuple[int, Passage, list[int]]]] = {}
        for row in db.execute("SELECT id, article_id, position, start, end, text FROM passages "
                              f"WHERE 1{live} ORDER BY article_id, position", parameters):
            spans = sentences.get(row["id"], [])
            passage = Passage(row["article_id"], row["position"], row["start"], row["end"], row["text"],
                              tuple((start, end) for _, start, end in spans))
            grouped.setdefault(row["article_id"], []).append((row["id"], passage, [r for r, _, _ in spans]))
    finally:
        db.close()
    return {
        article_id: (
            [p for _, p, _ in items],
            version.vectors.vectors(np.array([passage_id for passage_id, _, _ in items], dtype=np.int64)),
            np.array(version.sentence_vectors[[r for _, _, rows in items for r in rows]], dtype=np.float32),
        )
        for article_id, items in grouped.items()
    }
