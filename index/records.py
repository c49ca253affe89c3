"""A version's database of articles, passages and sentences: schema, writing, reading back."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, Mapping, Sequence

from index.articles import Article
from index.duplicates import duplicate_groups, text_key
from index.durable import fsync_file
from index.passages import Passage
from index.rows import Rows
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
    duplicate_of TEXT NOT NULL,  -- the first article with the same link or the same normalized text; itself if none
    text_key TEXT NOT NULL  -- duplicates.text_key: kept so that an update need not normalize kept articles again
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
# An update that appends finds the duplicate groups it changes by these (index.append); it makes them in a version
# written before them.
GROUP_INDEX_COLUMNS = {  # each index by name, and the column it indexes
    "articles_by_link": "link", "articles_by_text_key": "text_key", "articles_by_group": "duplicate_of"}
GROUP_INDEXES = tuple(f"CREATE INDEX IF NOT EXISTS {name} ON articles({column})"
                      for name, column in GROUP_INDEX_COLUMNS.items())


def content_hash(article: Article) -> str:
    """Fingerprint of what gets embedded, so an unchanged article can be recognised later."""
    return hashlib.sha256(f"{article.title}\n{article.text}".encode()).hexdigest()


def write_database(path: Path, articles: Rows[Article], passages: Rows[Passage],
                   text_keys: Mapping[str, str] | None = None) -> None:
    """Write ``index.sqlite``; ``text_keys``: the :func:`text_key` of articles whose text the caller already
    knows it of (an update's kept articles), so only the others are normalized."""
    known = text_keys or {}
    keys = {a.id: known.get(a.id) or text_key(a.text) for a in articles}
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA + "".join(f"{statement};\n" for statement in GROUP_INDEXES))
        canonical = duplicate_groups(articles, keys)
        db.executemany(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (a.id, a.title, a.text, a.link, a.cat, a.subcat, json.dumps(a.tags, ensure_ascii=False),
                 a.date, a.lang, a.source, content_hash(a), canonical[a.id], keys[a.id])
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


ARTICLE_FIELDS = "id, title, text, link, cat, subcat, tags, date, lang, source"
"""The columns an :class:`Article` is read back from, in :func:`article_from_row`'s order."""
ARTICLE_COLUMNS = ARTICLE_FIELDS + ", content_hash, duplicate_of, text_key"  # every column of the table, in order


def article_from_row(row: Sequence[Any]) -> Article:
    """The article of a row of :data:`ARTICLE_FIELDS` (tags stored as JSON)."""
    aid, title, text, link, cat, subcat, tags, date, lang, source = row
    return Article(aid, title, text, link, cat, subcat, json.loads(tags), date, lang, source)


def stored_articles(version: IndexVersion) -> dict[str, Article]:
    """Every article of a version (but those deleted since its last merge), in index order, as it was ingested."""
    live, parameters = version.tombstones.excluded("id")
    with closing(version.connect()) as db:
        rows = db.execute(f"SELECT {ARTICLE_FIELDS} FROM articles WHERE 1{live} ORDER BY rowid", parameters)
        return {row[0]: article_from_row(row) for row in rows}
