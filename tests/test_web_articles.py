"""Facets, the article page and similar articles, date filters in either calendar, and queries typed in
the wrong keyboard layout: on the page and in the API (responses checked against the OpenAPI document)."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest

from search.layout import to_latin
from settings import Settings
from tests.test_web_api import check_against_openapi, check_error
from web.app import create_app


@pytest.fixture(scope="module")
def client(sample_index: Path, search_engine):
    return create_app(Settings(index_dir=sample_index), engine=search_engine).test_client()


def article_url(article_id: str) -> str:
    return "/api/articles/" + quote(article_id, safe="")


def test_facets_count_every_matching_article_and_filter_when_followed(client) -> None:
    body = check_against_openapi(client.get("/api/search", query_string={"q": "ایران", "k": 3}), "/api/search")
    facets = body["facets"]
    assert sum(f["count"] for f in facets["category"]) <= body["total"]
    assert sum(f["count"] for f in facets["year"]) == sum(f["count"] for f in facets["solar_hijri_year"])
    science = next(f for f in facets["category"] if f["value"] == "science")
    assert science["label"] == {"fa": "علم", "en": "Science"}
    narrowed = client.get("/api/search", query_string={"q": "ایران", "k": 3, "cat": "science"}).get_json()
    assert narrowed["total"] == science["count"]
    year = facets["solar_hijri_year"][0]
    dated = client.get("/api/search", query_string={"q": "ایران", "k": 100, "date_from": year["date_from"],
                                                    "date_to": year["date_to"]}).get_json()
    assert dated["total"] == year["count"]


def test_solar_hijri_date_filters_equal_their_gregorian_days(client) -> None:
    solar = client.get("/api/search", query_string={"q": "ایران", "k": 100, "date_from": "۱۴۰۵/۰۱/۰۱",
                                                    "date_to": "1405-03-31"}).get_json()
    gregorian = client.get("/api/search", query_string={"q": "ایران", "k": 100, "date_from": "2026-03-21",
                                                        "date_to": "2026-06-21"}).get_json()
    assert solar["filters"] == gregorian["filters"] == {"category": None, "date_from": "2026-03-21",
                                                        "date_to": "2026-06-21"}
    assert [r["article_id"] for r in solar["results"]] == [r["article_id"] for r in gregorian["results"]]
    assert all("2026-03-21" <= r["date"] <= "2026-06-21" for r in solar["results"])
    check_error(client.get("/api/search", query_string={"q": "x", "date_from": "1402-12-30"}), 400, "date_from")


def test_the_page_filters_by_solar_hijri_dates_and_links_facets(client) -> None:
    html = client.get("/", query_string={"q": "ایران", "date_from": "۱۴۰۵/۰۱/۰۱"}).get_data(as_text=True)
    assert 'id="facets"' in html and 'value="۱۴۰۵/۰۱/۰۱"' in html
    years = re.findall(r'<a href="([^"]*date_from=[^"]*)"[^>]*><span dir="auto">([۰-۹]+)</span>', html)
    assert years and all(label == "۱۴۰۵" for _, label in years)  # only the chosen year is left
    bad = client.get("/", query_string={"q": "ایران", "date_from": "1402-13-40"})
    assert bad.status_code == 400 and "۱۴۰۲/۰۵/۱۲" in bad.get_data(as_text=True)


def test_each_result_links_to_its_article_page_which_highlights_the_query(client, search_engine) -> None:
    html = client.get("/", query_string={"q": "تلسکوپ رصدخانه"}).get_data(as_text=True)
    first = search_engine.search("تلسکوپ رصدخانه", k=1).results[0]
    href = re.search(r'class="article-link" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert href.startswith("/article/" + quote(first.article_id, safe=""))
    page = client.get(href)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert first.title in text and '<mark class="hl-terms">تلسکوپ</mark>' in text and 'id="similar"' in text
    assert client.get("/article/no-such-article").status_code == 404


def test_article_api_gives_the_whole_text_marked_passages_and_similar_articles(client, search_engine) -> None:
    first = search_engine.search("تلسکوپ رصدخانه", k=1).results[0]
    body = check_against_openapi(client.get(article_url(first.article_id), query_string={"q": "تلسکوپ"}),
                                 "/api/articles/{article_id}")
    assert body["article_id"] == first.article_id and first.text in body["text"]
    assert body["highlights"] and all(body["text"][s:e] == "تلسکوپ" for s, e in body["highlights"])
    assert all(any(ps <= s and e <= pe for ps, pe in body["matched_passages"]) for s, e in body["highlights"])
    assert body["solar_hijri_date"] == "1405-01-25" and body["date"] == "2026-04-14"
    similar = body["similar"]
    assert len(similar) == 5 and first.article_id not in {s["article_id"] for s in similar}
    assert [s["score"] for s in similar] == sorted((s["score"] for s in similar), reverse=True)
    alone = check_against_openapi(client.get("/api/similar/" + quote(first.article_id, safe=""), query_string={"k": 3}),
                                  "/api/similar/{article_id}")
    assert [s["article_id"] for s in alone["similar"]] == [s["article_id"] for s in similar[:3]]
    check_error(client.get(article_url("https://example.org/none")), 404, "https://example.org/none")
    check_error(client.get("/api/similar/x", query_string={"k": 0}), 400, "k")


def test_a_query_typed_in_the_wrong_layout_is_converted_with_a_way_back(client) -> None:
    typed = to_latin("تلسکوپ رصدخانه")
    body = check_against_openapi(client.get("/api/search", query_string={"q": typed, "k": 1}), "/api/search")
    assert body["layout"] == {"typed": typed, "searched": "تلسکوپ رصدخانه", "meant": "fa"}
    assert body["query"] == typed and body["searched_query"] == "تلسکوپ رصدخانه" and body["total"] >= 1
    as_typed = client.get("/api/search", query_string={"q": typed, "as_typed": "1"}).get_json()
    assert as_typed["layout"] is None and as_typed["searched_query"] == typed
    html = client.get("/", query_string={"q": typed}).get_data(as_text=True)
    assert 'id="layout-note"' in html and "«تلسکوپ رصدخانه»" in html
    back = re.search(r'id="search-as-typed"', html) and re.search(r'<a href="([^"]+)" id="search-as-typed"', html).group(1)
    assert "as_typed=1" in back
    assert 'id="layout-note"' not in client.get(back.replace("&amp;", "&")).get_data(as_text=True)
    plain = client.get("/api/search", query_string={"q": "Iran Russia trade"}).get_json()
    assert plain["layout"] is None
