"""Reading search parameters from a query string or a JSON body into a :class:`search.query.Query`, with
messages a person can act on."""
from __future__ import annotations

import re
from datetime import date
from typing import Any, Iterable, Mapping

from index.dates import BadDate, parse_date
from search.query import DEFAULT_K, DEFAULT_METHOD, MAX_K, MAX_QUERY_CHARS, METHODS, Query

MAX_OFFSET = 1000
PAGE_SIZE = 10
MAX_PAGE = MAX_OFFSET // PAGE_SIZE + 1
FIELDS = ("q", "k", "offset", "cat", "date_from", "date_to", "method", "as_typed")

_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")
_DATE = re.compile(r"[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}")
_ASCII_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")


class BadParameter(ValueError):
    """A parameter is missing or invalid; ``str(exc)`` tells the caller what to send instead."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def check_query(value: Any) -> str:
    if value is None:
        raise BadParameter("the query is missing: pass it as q, e.g. /api/search?q=تورم")
    if not isinstance(value, str):
        raise BadParameter(f"the query q must be a string, not {_show(value)}")
    if not value.strip():
        raise BadParameter("the query q is empty: type some words to search for")
    if len(value) > MAX_QUERY_CHARS:
        raise BadParameter(f"the query is {len(value)} characters long; the limit is {MAX_QUERY_CHARS}")
    return value


def check_int(name: str, value: Any, low: int, high: int, default: int) -> int:
    """An integer in ``[low, high]`` from an int or a string of digits; ``None`` or ``""`` gives the default."""
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadParameter(f"{name} must be a whole number between {low} and {high}, not {_show(value)}")
    if isinstance(value, str):
        text = value.strip()
        if not _INTEGER.fullmatch(text):
            raise BadParameter(f"{name} must be a whole number between {low} and {high}, not {_show(value)}")
        value = int(text)
    if not low <= value <= high:
        raise BadParameter(f"{name} must be between {low} and {high}, not {value}")
    return value


def check_date(name: str, value: Any) -> date | None:
    """The Gregorian date; the value may be Gregorian or Solar Hijri (a year below 1700), with - or /, in any digits."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DATE.fullmatch(value.strip().translate(_ASCII_DIGITS)):
        raise BadParameter(f"{name} must be a date written YYYY-MM-DD or YYYY/MM/DD (e.g. 2024-03-20, or "
                           f"1403/01/01 in the Solar Hijri calendar), not {_show(value)}")
    try:
        return parse_date(value)
    except BadDate:
        raise BadParameter(f"{name} {_show(value)} is not a real calendar date") from None


def check_flag(name: str, value: Any) -> bool:
    """A yes/no parameter: true/false in JSON, 1/0 or true/false in a query string; absent is false."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "0", "false"}:
        return value.strip().lower() in {"1", "true"}
    raise BadParameter(f"{name} must be true or false (1 or 0), not {_show(value)}")


def check_category(value: Any, categories: Iterable[str]) -> str | None:
    if value is None or value == "":
        return None
    known = list(categories)
    if not isinstance(value, str) or value not in known:
        listed = ", ".join(known[:30]) + (", …" if len(known) > 30 else "")
        raise BadParameter(f"unknown category {_show(value)}; known categories: {listed or '(none)'}")
    return value


def check_method(value: Any) -> str:
    if value is None or value == "":
        return DEFAULT_METHOD
    if not isinstance(value, str):
        raise BadParameter(f"method must be a string, not {_show(value)}")
    if value not in METHODS:
        raise BadParameter(f"unknown method {_show(value)}; use one of: {', '.join(METHODS)}")
    return value


def parse_search(source: Mapping[str, Any], categories: Iterable[str], strict_fields: bool = False) -> Query:
    """Every search parameter read and checked; ``strict_fields`` refuses unknown names (for JSON bodies).
    The API's ``cat`` is the query's ``category``."""
    if strict_fields:
        unknown = sorted(set(source) - set(FIELDS))
        if unknown:
            raise BadParameter(f"unknown field(s) {', '.join(map(_show, unknown))}; accepted fields: {', '.join(FIELDS)}")
    return Query(  # a date_from after date_to is refused by the Query itself
        text=check_query(source.get("q")),
        k=check_int("k", source.get("k"), 1, MAX_K, DEFAULT_K),
        offset=check_int("offset", source.get("offset"), 0, MAX_OFFSET, 0),
        category=check_category(source.get("cat"), categories),
        date_from=check_date("date_from", source.get("date_from")),
        date_to=check_date("date_to", source.get("date_to")),
        method=check_method(source.get("method")),
    )
