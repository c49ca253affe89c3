"""Counts of a query's matching articles per category and per year (Gregorian and Solar Hijri), to filter by."""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import jdatetime
import numpy as np

from index.dates import solar_hijri_year


@dataclass
class FacetValue:
    """One value of a facet and how many matching articles have it; ``date_from``/``date_to`` (ISO
    Gregorian, inclusive) are the filter a year stands for."""

    value: str
    count: int
    date_from: str | None = None
    date_to: str | None = None


@dataclass
class Facets:
    category: list[FacetValue] = field(default_factory=list)
    year: list[FacetValue] = field(default_factory=list)
    solar_hijri_year: list[FacetValue] = field(default_factory=list)


@dataclass(frozen=True)
class ArticleFacts:
    """Each article's category (a code into ``categories``; -1 for none) and its year in both calendars (0 for
    no date), as arrays in the order of the engine's ``arrays.articles.article_ids``: a query's facets are
    then counted by ``numpy.bincount`` over its ranked articles' positions (:attr:`Ranking.representatives`)."""

    categories: list[str]
    category: np.ndarray
    year: np.ndarray
    solar_year: np.ndarray


_FACTS: "weakref.WeakKeyDictionary[Any, ArticleFacts]" = weakref.WeakKeyDictionary()


def article_facts(engine: Any) -> ArticleFacts:
    """The :class:`ArticleFacts` of the engine's version, read once per engine (a version never changes)."""
    facts = _FACTS.get(engine)
    if facts is None:
        stored = {article_id: (cat, day) for article_id, cat, day in engine.db.execute("SELECT id, cat, date FROM articles")}
        rows = [stored[article_id] for article_id in engine.arrays.articles.article_ids]
        categories = sorted({cat for cat, _ in rows if cat})
        code = {cat: n for n, cat in enumerate(categories)}
        facts = _FACTS[engine] = ArticleFacts(
            categories, np.array([code[cat] if cat else -1 for cat, _ in rows], dtype=np.int32),
            np.array([int(day[:4]) if day else 0 for _, day in rows], dtype=np.int32),
            np.array([solar_hijri_year(day) if day else 0 for _, day in rows], dtype=np.int32))
    return facts


def count(engine: Any, articles: np.ndarray) -> Facets:
    """Facets of the matching ``articles`` (positions in the engine's ``arrays.articles.article_ids``, one per
    story: duplicates are not among them), most common first."""
    facts = article_facts(engine)
    at = np.asarray(articles, dtype=np.int64)
    category = facts.category[at]
    cats = np.bincount(category[category >= 0], minlength=len(facts.categories))
    dated = at[facts.year[at] > 0]
    years, year_counts = np.unique(facts.year[dated], return_counts=True)
    solar, solar_counts = np.unique(facts.solar_year[dated], return_counts=True)
    return Facets(
        category=[FacetValue(facts.categories[code], int(cats[code]))
                  for code in sorted(np.flatnonzero(cats).tolist(), key=lambda code: (-cats[code], facts.categories[code]))],
        year=[FacetValue(str(year), n, date(year, 1, 1).isoformat(), date(year, 12, 31).isoformat())
              for year, n in zip(years[::-1].tolist(), year_counts[::-1].tolist())],
        solar_hijri_year=[FacetValue(str(year), n, *solar_hijri_bounds(year))
                          for year, n in zip(solar[::-1].tolist(), solar_counts[::-1].tolist())],
    )


def solar_hijri_bounds(year: int) -> tuple[str, str]:
    """The first and last Gregorian day of a Solar Hijri year (Esfand has 29 or 30 days)."""
    first = jdatetime.date(year, 1, 1).togregorian()
    last = jdatetime.date(year + 1, 1, 1).togregorian() - timedelta(days=1)
    return first.isoformat(), last.isoformat()
