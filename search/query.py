"""The parameters of one search, checked in one place: what the engine, the API, the page, the command line
and the evaluation all pass."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from index.dates import BadDate, parse_date
from index.filter import Filter

METHODS = ("hybrid", "dense", "lexical")
DEFAULT_METHOD = "hybrid"
MAX_QUERY_CHARS = 1000
MAX_K = 100
DEFAULT_K = 10


@dataclass(frozen=True)
class Query:
    """What to search for and which page of the ranking to return; ValueError naming the bad field when
    built with a bad one. ``date_from`` / ``date_to`` are inclusive and drop undated articles;
    ``article_passages`` adds each article's other matching passages."""

    text: str
    k: int = DEFAULT_K
    offset: int = 0
    method: str = DEFAULT_METHOD
    category: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    article_passages: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ValueError("the query must be text")
        if len(self.text) > MAX_QUERY_CHARS:
            raise ValueError(f"the query is {len(self.text)} characters long; at most {MAX_QUERY_CHARS} are allowed")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 1 <= self.k <= MAX_K:
            raise ValueError(f"k must be a whole number from 1 to {MAX_K}, not {self.k!r}")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int) or self.offset < 0:
            raise ValueError(f"offset must be a whole number of at least 0, not {self.offset!r}")
        if self.category is not None and not isinstance(self.category, str):
            raise ValueError("category must be text")
        for name in ("date_from", "date_to"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), date):
                raise ValueError(f"{name} must be a date, not {getattr(self, name)!r}")
        if self.date_from is not None and self.date_to is not None and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")

    @classmethod
    def of(cls, text: str, k: int = DEFAULT_K, offset: int = 0, *, method: str = DEFAULT_METHOD,
           category: str | None = None, date_from: str | date | None = None, date_to: str | date | None = None,
           article_passages: bool = False) -> "Query":
        """A query whose dates may be text in either calendar (``2023-08-03``, ``1402/05/12``, Persian digits:
        a year below 1700 is Solar Hijri), as the page, the API and the command line write them."""
        return cls(text, k, offset, method, category, _text_date("date_from", date_from),
                   _text_date("date_to", date_to), article_passages)

    @property
    def filter(self) -> Filter:
        return Filter(self.category, self.date_from, self.date_to)


def _text_date(name: str, value: str | date | None) -> date | None:
    """The Gregorian date ``value`` names in either calendar (``index.dates.parse_date``)."""
    if value is None or isinstance(value, date):
        return value
    try:
        return parse_date(value)
    except BadDate as exc:
        raise ValueError(f"{name}: {exc}") from None
