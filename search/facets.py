"""Counts of a query's matching articles per category and per year (Gregorian and Solar Hijri), to filter by."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Iterable

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
    no date), as arrays in the order of a version's ``PassageArrays.articles.article_ids``: a query's facets
    are then counted by ``numpy.bincount`` over its ranked articles' positions (:attr:`Ranking.representatives`)."""

    categories: list[str]
    category: np.ndarray
    year: np.ndarray
    solar_year: np.ndarray

    def extended(self, rows: list[tuple[int, str | None, str | None]], articles: int) -> "ArticleFacts":
        """These facts for ``articles`` articles with the ``rows`` (article position, category, ISO date) of those
        written since (new, or changed by an update); the codes of a new category's neighbours move with it."""
        categories = sorted({*self.categories, *(cat for _, cat, _ in rows if cat)})
        code = {cat: n for n, cat in enumerate(categories)}
        old = len(self.category)
        recoded = np.array([code[cat] for cat in self.categories] + [-1], dtype=np.int32)  # -1 stays -1
        category = np.full(articles, -1, dtype=np.int32)
        category[:old] = recoded[self.category]
        year, solar_year = (np.zeros(articles, dtype=np.int32) for _ in range(2))
        year[:old], solar_year[:old] = self.year, self.solar_year
        for position, cat, day in rows:
            category[position] = code[cat] if cat else -1
            year[position], solar_year[position] = (int(day[:4]), solar_hijri_year(day)) if day else (0, 0)
        return ArticleFacts(categories, category, year, solar_year)


def read_facts(rows: Iterable[tuple[str, str | None, str | None]], article_ids: list[str]) -> ArticleFacts:
    """The facts of ``article_ids`` from the ``rows`` (id, category, ISO date) of the articles table. Solar Hijri
    years are converted once per distinct day (5 s at 10^6 passages, converting each article's date)."""
    stored = {article_id: (cat, day) for article_id, cat, day in rows}
    facts = [stored[article_id] for article_id in article_ids]
    categories = sorted({cat for cat, _ in facts if cat})
    code = {cat: n for n, cat in enumerate(categories)}
    solar = {day: solar_hijri_year(day) for day in {day for _, day in facts if day}}
    return ArticleFacts(categories, np.array([code[cat] if cat else -1 for cat, _ in facts], dtype=np.int32),
                        np.array([int(day[:4]) if day else 0 for _, day in facts], dtype=np.int32),
                        np.array([solar[day] if day else 0 for _, day in facts], dtype=np.int32))


def count(facts: ArticleFacts, articles: np.ndarray) -> Facets:
    """Facets of the matching ``articles`` (positions in the version's ``article_ids``, one per story: duplicates
    are not among them), most common first."""
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
