"""Dates in either calendar: Solar Hijri and Gregorian read, stored as ISO Gregorian, shown per language."""
import json
from pathlib import Path

import pytest

from index.articles import read_articles
from index.dates import BadDate, display_date, normalize_date, parse_date, solar_hijri_year


@pytest.mark.parametrize("text", ["1402-05-12", "1402/05/12", "۱۴۰۲/۰۵/۱۲", "١٤٠٢-٠٥-١٢", "1402/5/12", " 1402.05.12 "])
def test_solar_hijri_dates_in_any_writing_are_the_same_day(text: str) -> None:
    assert parse_date(text).isoformat() == "2023-08-03"


@pytest.mark.parametrize("text, iso", [("2023-08-03", "2023-08-03"), ("2023/08/03", "2023-08-03"),
                                       ("2024-03-20T10:30:00+03:30", "2024-03-20"), ("۲۰۲۴-۰۳-۲۰", "2024-03-20")])
def test_gregorian_dates_stay_gregorian(text: str, iso: str) -> None:
    assert parse_date(text).isoformat() == iso


def test_nowruz_is_the_first_of_farvardin() -> None:
    assert parse_date("1403-01-01").isoformat() == "2024-03-20"
    assert display_date("2024-03-20", "fa") == "۱ فروردین ۱۴۰۳"
    assert solar_hijri_year("2024-03-19") == 1402 and solar_hijri_year("2024-03-20") == 1403


@pytest.mark.parametrize("text, reason", [("1402-12-31", "Solar Hijri"), ("2023-02-30", "Gregorian"),
                                          ("yesterday", "YYYY-MM-DD"), ("1402-13-01", "Solar Hijri")])
def test_impossible_dates_are_refused_naming_the_calendar(text: str, reason: str) -> None:
    with pytest.raises(BadDate, match=reason):
        parse_date(text)
    assert normalize_date(text) is None


def test_leap_esfand_30_exists_only_in_leap_years() -> None:
    assert parse_date("1403-12-30").isoformat() == "2025-03-20"  # 1403 is a leap year
    with pytest.raises(BadDate):
        parse_date("1402-12-30")


def test_english_page_shows_the_gregorian_date() -> None:
    assert display_date("2023-08-03", "en") == "2023-08-03"
    assert display_date("2023-08-03", "fa") == "۱۲ مرداد ۱۴۰۲"
    assert display_date(None, "fa") == ""


def test_articles_dated_in_solar_hijri_are_stored_gregorian(tmp_path: Path) -> None:
    records = [{"title": "الف", "text": "متن یک", "id": "a", "date": "۱۴۰۲/۰۵/۱۲"},
               {"title": "ب", "text": "متن دو", "id": "b", "date": "2023-08-04"}]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    assert [a.date for a in read_articles([path])] == ["2023-08-03", "2023-08-04"]
