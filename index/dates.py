"""Dates in either calendar: Gregorian or Solar Hijri (Jalali) in, ISO Gregorian stored, either shown.

Articles and filters may give ``2023-08-03``, ``1402-05-12``, ``1402/05/12`` or ``۱۴۰۲/۰۵/۱۲``; a year
below :data:`SOLAR_HIJRI_BEFORE` is read as Solar Hijri (the Solar Hijri year 1700 is 2321 CE, and no
news archive holds a Gregorian year below 1700). Calendar arithmetic is jdatetime's.
"""
from __future__ import annotations

import re
from datetime import date, datetime

import jdatetime

SOLAR_HIJRI_BEFORE = 1700
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_TO_PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
# year, month, day separated by "-", "/" or "."; an optional time part (ISO "T" or a space) is ignored
_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?")


class BadDate(ValueError):
    """A date that cannot be read; ``str(exc)`` says what was expected."""


def parse_date(value: str) -> date:
    """The Gregorian date that ``value`` names in either calendar, or :class:`BadDate` saying why not."""
    if not isinstance(value, str):
        raise BadDate(f"a date must be text such as 2023-08-03 or 1402-05-12, not {type(value).__name__}")
    text = value.strip().translate(_DIGITS)
    match = _DATE.fullmatch(text)
    if match is None:
        if _is_iso_datetime(text):  # ISO forms the pattern does not cover, e.g. 20230803 or with an offset
            return datetime.fromisoformat(text).date()
        raise BadDate(f"{value!r} is not a date written YYYY-MM-DD or YYYY/MM/DD "
                      f"(Gregorian, or Solar Hijri when the year is below {SOLAR_HIJRI_BEFORE})")
    year, month, day = (int(part) for part in match.groups())
    try:
        if year < SOLAR_HIJRI_BEFORE:
            return jdatetime.date(year, month, day).togregorian()
        return date(year, month, day)
    except ValueError:
        calendar = "Solar Hijri" if year < SOLAR_HIJRI_BEFORE else "Gregorian"
        raise BadDate(f"{value!r} is not a real {calendar} calendar date") from None


def normalize_date(value: object) -> str | None:
    """ISO Gregorian text for a stored article date, or ``None`` when ``value`` is no readable date."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_date(value).isoformat()
    except BadDate:
        return None


def _is_iso_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def solar_hijri(iso: str) -> jdatetime.date:
    """The Solar Hijri date of an ISO Gregorian date, with Persian month names."""
    return jdatetime.date.fromgregorian(date=date.fromisoformat(iso), locale="fa_IR")


def display_date(iso: str | None, lang: str) -> str:
    """How a reader of ``lang`` writes the date: ``۱۲ مرداد ۱۴۰۲`` in Persian, ``2023-08-03`` in English."""
    if not iso:
        return ""
    if lang != "fa":
        return iso
    day = solar_hijri(iso)
    return f"{day.day} {day.strftime('%B')} {day.year}".translate(_TO_PERSIAN)


def solar_hijri_year(iso: str) -> int:
    """The Solar Hijri year an ISO Gregorian date falls in (facets on the Persian page count by it)."""
    return solar_hijri(iso).year
