"""Counts of a query's matching articles per category and per year (Gregorian and Solar Hijri), to filter by."""
from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Iterable

import jdatetime

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


_FIELDS: "weakref.WeakKeyDictionary[Any, dict[str, tuple[str, int | None, int | None]]]" = weakref.WeakKeyDictionary()


def article_fields(engine: Any) -> dict[str, tuple[str, int | None, int | None]]:
    """Each article's category and its year in both calendars, read once per engine (a version never changes)."""
    fields = _FIELDS.get(engine)
    if fields is None:
        fields = _FIELDS[engine] = {
            article_id: (cat, int(day[:4]) if day else None, solar_hijri_year(day) if day else None)
            for article_id, cat, day in engine.db.execute("SELECT id, cat, date FROM articles")}
    return fields


def count(engine: Any, article_ids: Iterable[str]) -> Facets:
    """Facets of the given matching articles (one per story: duplicates are not among them), most common first."""
    fields = article_fields(engine)
    cats: Counter[str] = Counter()
    years: Counter[int] = Counter()
    solar: Counter[int] = Counter()
    for article_id in article_ids:
        cat, year, solar_year = fields[article_id]
        if cat:
            cats[cat] += 1
        if year is not None:
            years[year] += 1
            solar[solar_year] += 1
    return Facets(
        category=[FacetValue(cat, n) for cat, n in sorted(cats.items(), key=lambda item: (-item[1], item[0]))],
        year=[FacetValue(str(year), n, date(year, 1, 1).isoformat(), date(year, 12, 31).isoformat())
              for year, n in sorted(years.items(), reverse=True)],
        solar_hijri_year=[FacetValue(str(year), n, *solar_hijri_bounds(year)) for year, n in sorted(solar.items(), reverse=True)],
    )


def solar_hijri_bounds(year: int) -> tuple[str, str]:
    """The first and last Gregorian day of a Solar Hijri year (Esfand has 29 or 30 days)."""
    first = jdatetime.date(year, 1, 1).togregorian()
    last = jdatetime.date(year + 1, 1, 1).togregorian() - timedelta(days=1)
    return first.isoformat(), last.isoformat()
