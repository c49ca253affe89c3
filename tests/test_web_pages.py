"""The search page over the sample index: states, paging, languages, escaping and security headers."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from index.articles import Article
from search.facets import Facets
from search.query import MAX_QUERY_CHARS
from settings import Settings
from web.app import SECURITY_HEADERS, create_app
from web.markup import highlight, merge_spans, safe_href

EVIL_TITLE = '<script>alert("title")</script> خبر فوری'
EVIL_TEXT = 'متن خبر <img src=x onerror=alert(1)> و <script>alert("body")</script> درباره زلزله در کرمان.'
EVIL_LINK = "javascript:alert(document.cookie)"


class Page(HTMLParser):
    """The parts of a page the tests look at."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())]


@pytest.fixture(scope="module")
def client(sample_index: Path, search_engine):
    return create_app(Settings(index_dir=sample_index), engine=search_engine).test_client()


@pytest.fixture(scope="module")
def evil_index(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """A two-article index whose first article carries markup in its title and body and a javascript: link."""
    from index.pipeline import build_index
    from index.store import index_lock

    articles = [
        Article(id="evil-1", title=EVIL_TITLE, text=EVIL_TEXT, link=EVIL_LINK, cat="<b>cat</b>", date="2024-01-02",
                lang="fa"),
        Article(id="good-1", title="زلزله در کرمان", text="زمین‌لرزه‌ای به بزرگی پنج ریشتر کرمان را لرزاند.",
                link="https://example.org/news/kerman?a=1&b=2", cat="حوادث", date="2024-01-03", lang="fa"),
    ]
    index_dir = tmp_path_factory.mktemp("evil-index")
    with index_lock(index_dir):
        build_index(articles, index_dir, embedder)
    return index_dir


@pytest.fixture(scope="module")
def evil_client(evil_index: Path):
    return create_app(Settings(index_dir=evil_index)).test_client()


@pytest.mark.parametrize("query", [None, "", "   \t "])
def test_empty_query_shows_the_form_and_a_hint(client, query):
    response = client.get("/", query_string={} if query is None else {"q": query})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = Page(html)
    assert page.find("html", lang="fa", dir="rtl")
    assert page.find("input", name="q", type="search")
    assert page.find("form", method="get")
    assert 'id="empty-query"' in html
    assert page.find("link", rel="stylesheet")
    assert not page.find("script")


def test_persian_query_shows_ranked_highlighted_passages(client):
    response = client.get("/", query_string={"q": "نرخ تورم سالانه"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = Page(html)
    items = page.find("li", class_="result")
    assert 1 <= len(items) <= 10
    assert [item["value"] for item in items] == [str(n) for n in range(1, len(items) + 1)]
    assert len(page.find("h2", class_="title", dir="auto")) == len(items)
    assert len(page.find("p", class_="passage", dir="auto")) == len(items)
    assert "<mark" in html
    assert 'id="summary"' in html and "میلی‌ثانیه" in html
    assert page.find("span", class_="score")
    assert page.find("a", rel="noopener noreferrer nofollow")


def test_english_interface(client):
    response = client.get("/", query_string={"q": "dust storm in Ahvaz", "lang": "en"})
    html = response.get_data(as_text=True)
    page = Page(html)
    assert page.find("html", lang="en", dir="ltr")
    assert "Best matches (" in html and " ms" in html  # a dense ranking is not a count of matches
    assert page.find("input", type="hidden", name="lang", value="en")
    switch = page.find("a", class_="lang-switch")[0]["href"]
    assert "lang=en" not in switch and "q=" in switch


def test_lexical_counts_are_counts_and_dense_rankings_say_best_matches(client, search_engine):
    lexical = search_engine.search("تهران", method="lexical")
    hybrid = search_engine.search("تهران")
    assert lexical.counted and not hybrid.counted and lexical.total < hybrid.total
    html = client.get("/", query_string={"q": "تهران"}).get_data(as_text=True)
    assert "نزدیک‌ترین نتیجه‌ها" in html


def test_persian_interface_links_to_english(client):
    page = Page(client.get("/", query_string={"q": "کتاب"}).get_data(as_text=True))
    assert "lang=en" in page.find("a", class_="lang-switch")[0]["href"]


def test_pagination(client):
    first = client.get("/", query_string={"q": "news"}).get_data(as_text=True)
    assert 'rel="next"' in first, "the sample corpus (24 articles) should fill more than one page"
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second_html = client.get("/", query_string={"q": "news", "page": 2}).get_data(as_text=True)
    second = Page(second_html)
    assert second.find("li", class_="result")[0]["value"] == "11"
    assert 'rel="prev"' in second_html and 'aria-current="page"' in second_html


@pytest.mark.parametrize(("page", "first_rank"), [("", "1"), (" 2 ", "11"), ("۲", "11"), ("٢", "11"), ("02", "11")])
def test_page_numbers_in_ascii_persian_or_arabic_indic_digits(client, page, first_rank):
    response = client.get("/", query_string={"q": "news", "page": page})
    assert response.status_code == 200
    assert Page(response.get_data(as_text=True)).find("li", class_="result")[0]["value"] == first_rank


@pytest.mark.parametrize("page", ["0", "-3", "+2", "abc", "2.0", "²", "𝟐", "١x", "102", "9" * 5000,
                                  "99999999999999999999", "\u0662\u200c"])
def test_unusable_page_numbers_are_a_clear_400(client, page):
    for lang, words in (("en", "from 1 to 101"), ("fa", "از ۱ تا ۱۰۱")):
        response = client.get("/", query_string={"q": "news", "page": page, "lang": lang})
        assert response.status_code == 400
        assert words in response.get_data(as_text=True)


def test_category_filter_on_the_page(client, search_engine):
    category = search_engine.categories()[0]
    html = client.get("/", query_string={"q": "news", "cat": category}).get_data(as_text=True)
    page = Page(html)
    assert "selected" in page.find("option", value=category)[0]  # the choice stays selected
    assert page.find("li", class_="result")
    assert all(category == slug for slug in re.findall(r'<span class="cat" dir="auto" data-slug="([^"]*)">', html))


def test_unknown_category_is_a_clear_error(client):
    response = client.get("/", query_string={"q": "news", "cat": "<nope>"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="bad-request"' in html and "&lt;nope&gt;" in html and "<nope>" not in html
    assert "دسته" in html  # said in the interface language


def test_too_long_query_is_a_clear_error(client):
    response = client.get("/", query_string={"q": "ب" * (MAX_QUERY_CHARS + 1), "lang": "en"})
    assert response.status_code == 400
    assert str(MAX_QUERY_CHARS) in response.get_data(as_text=True) and "shorten" in response.get_data(as_text=True)



def test_no_results_state(sample_index):
    class Nothing:
        def categories(self):
            return []

        def answer(self, query):
            return SimpleNamespace(query=query.text, normalized_query=query.text, total=0, took_ms=1.0, results=[],
                                   counted=True, facets=Facets())

    client = create_app(Settings(index_dir=sample_index), engine=Nothing()).test_client()
    response = client.get("/", query_string={"q": "<i>nothing</i>", "as_typed": "1"})  # the fake has no vocabulary
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="no-results"' in html and "&lt;i&gt;nothing&lt;/i&gt;" in html


def test_index_not_built_yet(tmp_path: Path):
    client = create_app(Settings(index_dir=tmp_path / "empty")).test_client()
    for query in ({}, {"q": "تورم"}):
        response = client.get("/", query_string=query)
        assert response.status_code == 503
        html = response.get_data(as_text=True)
        assert 'id="index-missing"' in html and "index.rebuild" in html
        assert Page(html).find("input", name="q")  # the form is still there


def test_unknown_page_and_method_are_html(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and response.content_type.startswith("text/html")
    response = client.post("/", data={"q": "x"})
    assert response.status_code == 405 and response.content_type.startswith("text/html")


def test_stylesheet(client):
    response = client.get("/static/style.css")
    assert response.status_code == 200 and response.content_type.startswith("text/css")
    css = response.get_data(as_text=True)
    assert "Vazirmatn" in css and "Noto Naskh Arabic" in css and "Tahoma" in css  # system fonts after it
    assert "@import" not in css and "//" not in re.sub(r"/\*.*?\*/", "", css, flags=re.S)  # nothing from elsewhere
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for font in re.findall(r'url\("([^"]+)"\)', css):  # the self-hosted font files are served
        served = client.get(f"/static/{font}")
        assert served.status_code == 200 and served.data[:4] == b"wOF2"


@pytest.mark.parametrize("path", ["/", "/?q=news", "/?q=news&lang=en", "/static/style.css", "/missing"])
def test_security_headers_on_pages(client, path):
    response = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_debug_is_off(client):
    assert client.application.debug is False


def test_markup_in_articles_is_escaped_and_javascript_links_are_not_linked(evil_client):
    response = evil_client.get("/", query_string={"q": "زلزله کرمان"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = Page(html)
    assert "<script" not in html and "<img" not in html and "<b>cat" not in html
    assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    hrefs = [a.get("href") or "" for a in page.find("a")]
    assert not any("javascript" in href.lower() for href in hrefs)
    assert "https://example.org/news/kerman?a=1&amp;b=2" in html  # the safe link is linked, escaped
    assert 'class="unsafe-link"' in html
    api = evil_client.get("/api/search", query_string={"q": "زلزله کرمان"}).get_json()
    evil = next(r for r in api["results"] if r["article_id"] == "evil-1")
    assert evil["title"] == EVIL_TITLE and evil["link"] == EVIL_LINK  # JSON carries data as stored; JSON-encoded


def test_highlight_escapes_every_segment():
    html = highlight("<a>x</a> & <b>", [[3, 4], [8, 9], [0, 1], [100, 200], [5, 2]])
    assert str(html) == '<mark class="hl-terms">&lt;</mark>a&gt;<mark class="hl-terms">x</mark>&lt;/a&gt;' \
                        '<mark class="hl-terms"> </mark>&amp; &lt;b&gt;'
    assert str(highlight("abc", [], "sentence")) == "abc"
    assert "hl-sentence" in str(highlight("abc", [[0, 3]], "sentence"))
    assert merge_spans([[0, 2], [1, 4], [4, 5], [7, 7], [-3, 1]], 6) == [(0, 5)]


@pytest.mark.parametrize("link, expected", [
    ("https://example.org/a?b=1", "https://example.org/a?b=1"),
    ("  http://example.org/  ", "http://example.org/"),
    ("javascript:alert(1)", None),
    ("JaVaScRiPt:alert(1)", None),
    (" javascript:alert(1)", None),
    ("java\tscript:alert(1)", None),
    ("data:text/html,<script>alert(1)</script>", None),
    ("vbscript:x", None),
    ("//example.org/x", None),
    ("/relative", None),
    ("http:///nohost", None),
    ("https://exa mple.org/\nx", None),
    ("", None),
    (None, None),
])
def test_safe_href(link, expected):
    assert safe_href(link) == expected
