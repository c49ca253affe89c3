"""The Persian page speaks Persian: Solar Hijri dates, Persian digits and category names; the English page
keeps Gregorian dates and English names; responses are compressed when the client accepts it."""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from settings import Settings
from web.app import create_app
from web.labels import CategoryLabels

PERSIAN_DIGIT = re.compile("[۰-۹]")


@pytest.fixture(scope="module")
def client(sample_index: Path, search_engine):
    return create_app(Settings(index_dir=sample_index), engine=search_engine).test_client()


def test_persian_page_shows_solar_hijri_dates_persian_digits_and_category_names(client, search_engine) -> None:
    html = client.get("/", query_string={"q": "تلسکوپ رصدخانه"}).get_data(as_text=True)
    first = search_engine.search("تلسکوپ رصدخانه", k=1).results[0]
    assert first.date == "2026-04-14" and first.cat == "science"
    assert '<time datetime="2026-04-14" dir="auto">۲۵ فروردین ۱۴۰۵</time>' in html
    assert '<span class="cat" dir="auto" data-slug="science">علم</span>' in html
    assert '<option value="science">علم</option>' in html
    summary = re.search(r'id="summary">([^<]*)<', html).group(1)
    assert PERSIAN_DIGIT.search(summary) and not re.search("[0-9]", summary)
    scores = re.findall(r'class="score"[^>]*>([^<]*)<', html)
    assert scores and all(PERSIAN_DIGIT.search(score) and not re.search("[0-9]", score) for score in scores)


def test_english_page_shows_gregorian_dates_and_english_names(client) -> None:
    html = client.get("/", query_string={"q": "تلسکوپ رصدخانه", "lang": "en"}).get_data(as_text=True)
    assert '<time datetime="2026-04-14" dir="auto">2026-04-14</time>' in html
    assert '<span class="cat" dir="auto" data-slug="science">Science</span>' in html
    assert not PERSIAN_DIGIT.search(re.search(r'id="summary">([^<]*)<', html).group(1))


def test_the_labels_file_names_every_fars_news_category(shared_data: Path) -> None:
    labels = CategoryLabels.load(Settings().category_labels)
    categories = {record.get("cat") for path in (shared_data / "farsnews").glob("*.json")
                  for record in json.loads(path.read_text(encoding="utf-8"))} - {"", None}
    assert categories and all(labels.label(c, "fa") != c and labels.label(c, "en") != c for c in categories)


def test_a_broken_labels_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    path.write_text('{"politics": "سیاسی"}', encoding="utf-8")
    with pytest.raises(ValueError, match="labels.json"):
        CategoryLabels.load(path)
    with pytest.raises(ValueError, match="KAVOSH_CATEGORY_LABELS"):
        CategoryLabels.load(tmp_path / "missing.json")


@pytest.mark.parametrize("encoding, decompress", [("gzip", gzip.decompress), ("br", None)])
def test_json_and_html_are_compressed_when_accepted(client, encoding: str, decompress) -> None:
    if decompress is None:
        import brotli

        decompress = brotli.decompress
    plain = client.get("/api/search", query_string={"q": "تورم", "k": 10})
    packed = client.get("/api/search", query_string={"q": "تورم", "k": 10}, headers={"Accept-Encoding": encoding})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == encoding and "Accept-Encoding" in packed.headers["Vary"]
    body = decompress(packed.data)
    assert len(packed.data) < len(body) / 2
    assert b"\\u" not in body and "تورم".encode() in body  # UTF-8, no \u escapes
    page = client.get("/", query_string={"q": "تورم"}, headers={"Accept-Encoding": encoding})
    assert page.headers["Content-Encoding"] == encoding and "کاوش" in decompress(page.data).decode()
