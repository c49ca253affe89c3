"""What a search returns (ranked articles, each shown by its best passage), how it is filled from the
version's rows, and its JSON form."""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from search.facets import Facets
from search.highlights import Highlight
from search.ranking import RankedArticle


@dataclass
class PassageMatch:
    """Another matching passage of a result's article (see ``article_passages``)."""

    passage_id: int
    score: float
    position: int
    start: int
    end: int
    text: str
    highlights: list[list[int]] = field(default_factory=list)
    highlight_kind: str = "terms"


@dataclass
class Result:
    """One ranked article, shown by its best passage.

    ``text`` is the passage (``start``/``end`` are its offsets in the article's text); ``highlights``
    are [start, end] offsets into ``text`` of the query's terms (``highlight_kind == "terms"``) or, when
    it shares no word with the query, of its sentence closest to the query (``"sentence"``);
    ``duplicates`` are the ids of the same story published again; ``more_passages`` the article's other
    matching passages, best first, when ``article_passages=True``."""

    rank: int
    score: float
    passage_id: int
    article_id: str
    title: str
    link: str
    cat: str
    date: str | None
    text: str
    start: int
    end: int
    position: int
    highlights: list[list[int]] = field(default_factory=list)
    highlight_kind: str = "terms"
    duplicates: list[str] = field(default_factory=list)
    more_passages: list[PassageMatch] = field(default_factory=list)


@dataclass
class SearchResponse:
    """The ranked results of a query and how the engine understood it.

    ``total`` is the number of matching articles (duplicates counted once): for ``lexical`` the articles
    holding a query term, for ``dense`` the articles among the ``DENSE_POOL`` passages nearest to the
    query, for ``hybrid`` both together (each side capped at its pool)."""

    query: str
    normalized_query: str
    total: int
    took_ms: float
    results: list[Result] = field(default_factory=list)
    method: str = "hybrid"
    # True when ``total`` counts articles that hold a query word (lexical); dense and hybrid rank every
    # article near the query, so their results are "best matches", not a count (docs/design.md)
    counted: bool = True
    facets: Facets = field(default_factory=Facets)


def passage_rows(db: sqlite3.Connection, passage_ids: list[int]) -> dict[int, Any]:
    """The shown fields of each passage and its article, by passage id."""
    columns = "p.id, p.position, p.start, p.end, p.text, a.title, a.link, a.cat, a.date"
    found: dict[int, Any] = {}
    for start in range(0, len(passage_ids), 900):  # SQLite's limit on bound parameters
        chunk = passage_ids[start:start + 900]
        rows = db.execute(
            f"SELECT {columns} FROM passages p JOIN articles a ON a.id = p.article_id "
            f"WHERE p.id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        found.update((row["id"], row) for row in rows)
    return found


def build_results(page: list[RankedArticle], shown: list[list[tuple[int, float]]], rows: dict[int, Any],
                  spans: Iterator[Highlight], offset: int) -> list[Result]:
    """One :class:`Result` per ranked article of ``page``, from its ``shown`` passages' ``rows`` and
    ``spans`` (one per shown passage, in order); ranks count from ``offset + 1``."""
    results = []
    for rank, ((article_id, _, duplicates), passages) in enumerate(zip(page, shown), start=offset + 1):
        matches = []
        for passage_id, score in passages:
            row = rows[passage_id]
            highlights, kind = next(spans)
            matches.append(PassageMatch(passage_id, round_score(score), row["position"], row["start"], row["end"],
                                        row["text"], highlights, kind))
        best, row = matches[0], rows[passages[0][0]]
        results.append(Result(rank, best.score, best.passage_id, article_id, row["title"], row["link"], row["cat"],
                              row["date"], best.text, best.start, best.end, best.position, best.highlights,
                              best.highlight_kind, duplicates, matches[1:]))
    return results


def round_score(score: float) -> float:
    """A score as shown: four decimals, 0 where it is not finite."""
    return round(float(score), 4) if math.isfinite(score) else 0.0


def dumps(response: SearchResponse) -> str:
    """JSON for a response, Persian kept readable."""
    return json.dumps(asdict(response), ensure_ascii=False, indent=2)
