"""One article as a reader opens it: its whole text with the passages that matched a query marked, and
the articles nearest to it by their vectors ("similar articles"), duplicates left out."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from index.persian import normalize

SIMILAR_POOL = 200  # passages looked at for an article's neighbours: enough for ten articles of long stories
MAX_SIMILAR = 20
DEFAULT_SIMILAR = 5
MAX_MATCHED_PASSAGES = 3  # passages of the article marked for a query: its best ones,
MATCH_MARGIN = 0.02  # those within this cosine of the best (E5 similarities crowd into a narrow band)


@dataclass
class SimilarArticle:
    article_id: str
    title: str
    link: str
    cat: str
    date: str | None
    score: float  # cosine similarity of the two articles' mean passage vectors' best match


@dataclass
class ArticleView:
    """An article's stored fields; ``highlights`` are [start, end] offsets into ``text`` of the query's
    words (or, without shared words, of the sentence closest to it) in the passages that matched best,
    ``matched_passages`` those passages' [start, end] offsets."""

    article_id: str
    title: str
    link: str
    cat: str
    subcat: str
    tags: list[str]
    date: str | None
    lang: str | None
    text: str
    duplicate_of: str | None
    duplicates: list[str] = field(default_factory=list)
    query: str | None = None
    highlights: list[list[int]] = field(default_factory=list)
    highlight_kind: str = "terms"
    matched_passages: list[list[int]] = field(default_factory=list)


def _row(engine: Any, article_id: str):
    """The article's row; None for an id the index does not hold or has deleted since its last merge."""
    if article_id in engine.version.tombstones.articles:
        return None
    return engine.db.execute("SELECT * FROM articles WHERE id = ?", [article_id]).fetchone()


def _passages(engine: Any, article_id: str) -> list[Any]:
    """The article's live passages (those an update re-embedded are dead until a merge, index.tombstones)."""
    dead = engine.version.tombstones.passage_set
    rows = engine.db.execute("SELECT id, position, start, end, text FROM passages WHERE article_id = ? ORDER BY position",
                             [article_id]).fetchall()
    return [row for row in rows if row["id"] not in dead]


def article(engine: Any, article_id: str, query: str | None = None) -> ArticleView | None:
    """The article ``article_id`` (None when the index has no such article), its best passages for ``query`` marked."""
    row = _row(engine, article_id)
    if row is None:
        return None
    duplicates = [other for (other,) in engine.db.execute(
        "SELECT id FROM articles WHERE duplicate_of = ? AND id != ? ORDER BY id", [row["duplicate_of"], article_id])]
    if row["duplicate_of"] != article_id:
        duplicates.insert(0, row["duplicate_of"])
    duplicates = [other for other in duplicates if other not in engine.version.tombstones.articles]
    view = ArticleView(article_id, row["title"], row["link"], row["cat"], row["subcat"], _tags(row["tags"]), row["date"],
                       row["lang"], row["text"], row["duplicate_of"], duplicates)
    normalized = normalize(query or "")
    passages = _passages(engine, article_id)
    if not normalized or not passages:
        return view
    view.query = query
    vector = engine.query_vector(normalized)
    cosines = engine.passage_vectors([p["id"] for p in passages]) @ vector
    best = [i for i in np.argsort(-cosines)[:MAX_MATCHED_PASSAGES] if cosines[i] >= cosines.max() - MATCH_MARGIN]
    chosen = [passages[i] for i in sorted(best)]
    spans = engine.passage_highlights([(p["id"], p["text"]) for p in chosen], normalized)
    kinds = set()
    for passage, (highlights, kind) in zip(chosen, spans):
        view.matched_passages.append([passage["start"], passage["end"]])
        view.highlights += [[passage["start"] + start, passage["start"] + end] for start, end in highlights]
        kinds.add(kind)
    view.highlight_kind = "terms" if "terms" in kinds else "sentence"
    return view


def similar(engine: Any, article_id: str, k: int = 5) -> list[SimilarArticle] | None:
    """The ``k`` articles nearest to ``article_id`` (None when there is no such article): the mean of its
    passage vectors against every passage, one result per story, the article and its duplicates left out."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_SIMILAR:
        raise ValueError(f"k must be a whole number from 1 to {MAX_SIMILAR}, not {k!r}")
    if _row(engine, article_id) is None:
        return None
    passages = _passages(engine, article_id)
    if not passages:
        return []
    centre = engine.passage_vectors([p["id"] for p in passages]).mean(axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    neighbours = [(first, score) for first, score, others in engine.nearest_articles(centre, SIMILAR_POOL)
                  if article_id != first and article_id not in others]
    rows = {row["id"]: row for row in engine.db.execute(
        f"SELECT id, title, link, cat, date FROM articles WHERE id IN ({','.join('?' * len(neighbours[:k]))})",
        [first for first, _ in neighbours[:k]])}
    return [SimilarArticle(first, rows[first]["title"], rows[first]["link"], rows[first]["cat"], rows[first]["date"],
                           round(float(score), 4)) for first, score in neighbours[:k]]


def _tags(value: str) -> list[str]:
    try:
        tags = json.loads(value)
    except ValueError:
        return []
    return [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []
