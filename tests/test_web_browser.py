"""A real browser (Debian's headless Chromium driven by Playwright) searching the sample index in Persian and English.

Needs ``apt-get install -y chromium`` (/usr/bin/chromium) and ``pip install playwright``; never runs
``playwright install`` (no browser downloads). Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import threading
import unicodedata
from urllib.parse import quote
from pathlib import Path

import pytest

from settings import Settings
from web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(),
                                reason=f"{CHROMIUM} not found (apt-get install -y chromium)")


def first_strong_direction(text: str) -> str | None:
    """What ``dir="auto"`` resolves to: the direction of the first strongly directional character."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return None


@pytest.fixture(scope="module")
def server_url(sample_index: Path, search_engine):
    from werkzeug.serving import make_server

    app = create_app(Settings(index_dir=sample_index), engine=search_engine)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="web-test-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser):
    # JavaScript off for the page: the site must work as a plain form (Playwright's own evaluation still works)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1100, "height": 900}, locale="fa-IR")
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.problems = problems
    yield page
    context.close()


def search(page, server_url: str, query: str, lang: str | None = None) -> list[dict]:
    page.goto(server_url + ("/?lang=en" if lang == "en" else "/"))
    page.fill("input[name=q]", query)
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("li.result")
    return page.eval_on_selector_all(
        "li.result",
        """items => items.map(li => ({
            rank: li.value,
            title: li.querySelector('.title').textContent,
            text: li.querySelector('.passage').textContent,
            titleDirection: getComputedStyle(li.querySelector('.title')).direction,
            passageDirection: getComputedStyle(li.querySelector('.passage')).direction,
            marks: li.querySelectorAll('.passage mark').length,
        }))""",
    )


def check_directions(results: list[dict]) -> None:
    for result in results:
        for part, direction in (("title", result["titleDirection"]), ("text", result["passageDirection"])):
            expected = first_strong_direction(result[part])
            if expected:
                assert direction == expected, f"{part} {result[part][:40]!r} is laid out {direction}"


def test_persian_search(page, server_url):
    ARTIFACTS.mkdir(exist_ok=True)
    results = search(page, server_url, "تلسکوپ جدید در کویر اصفهان")
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1)) and results
    assert page.eval_on_selector("html", "el => getComputedStyle(el).direction") == "rtl"
    assert results[0]["passageDirection"] == "rtl" and results[0]["titleDirection"] == "rtl"
    check_directions(results)
    assert any(r["marks"] for r in results), "no <mark> highlight on the page"
    assert "q=" in page.url
    page.screenshot(path=str(ARTIFACTS / "web-search-fa.png"), full_page=True)
    assert not page.problems, page.problems  # no CSP violations, no failed requests


def test_english_search(page, server_url):
    ARTIFACTS.mkdir(exist_ok=True)
    results = search(page, server_url, "teenage chess player wins tournament", lang="en")
    assert results
    assert page.eval_on_selector("html", "el => getComputedStyle(el).direction") == "ltr"
    check_directions(results)
    assert any(r["marks"] for r in results), "no <mark> highlight on the page"
    assert "lang=en" in page.url
    page.screenshot(path=str(ARTIFACTS / "web-search-en.png"), full_page=True)
    page.click("a[rel=next]")
    page.wait_for_selector("li.result")
    assert page.eval_on_selector("li.result", "li => li.value") == 11
    assert not page.problems, page.problems


def test_phone_width(browser, server_url):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740},
                                  device_scale_factor=2, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(server_url + "/?q=" + "خشک شدن دریاچه ارومیه")
        page.wait_for_selector("li.result")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
        page.screenshot(path=str(ARTIFACTS / "web-search-phone.png"))  # the first screen
    finally:
        context.close()


def test_persian_page_features_right_to_left_on_desktop_and_phone(browser, server_url):
    """Solar Hijri dates in Persian digits, category names, the self-hosted font, facets that filter, the
    article page with its marks and similar articles, and a wrong-layout query: laid out right to left and
    fitting a phone screen."""
    ARTIFACTS.mkdir(exist_ok=True)
    for name, viewport in (("desktop", {"width": 1100, "height": 900}), ("phone", {"width": 360, "height": 740})):
        context = browser.new_context(java_script_enabled=False, viewport=viewport, locale="fa-IR",
                                      is_mobile=name == "phone")
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            failed: list[str] = []
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.goto(server_url + "/?q=" + "ایران")
            page.wait_for_selector("li.result")
            assert page.eval_on_selector("html", "el => getComputedStyle(el).direction") == "rtl"
            dates = page.eval_on_selector_all("li.result time", "els => els.map(e => e.textContent)")
            assert dates and all(any("۰" <= ch <= "۹" for ch in d) and not any(ch.isascii() and ch.isdigit() for ch in d)
                                 for d in dates)
            page.evaluate("document.fonts.ready")
            assert page.evaluate("document.fonts.check('16px Vazirmatn', 'ایران')")
            assert page.evaluate("[...document.fonts].some(f => f.family.includes('Vazirmatn') && f.status == 'loaded')")
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name}: the page is {overflow}px wider than the screen"
            page.screenshot(path=str(ARTIFACTS / f"web-persian-{name}.png"), full_page=name == "desktop")

            label = page.eval_on_selector("#facet-category a span", "el => el.textContent")
            page.click("#facet-category a")
            page.wait_for_selector("li.result")
            shown = page.eval_on_selector_all("li.result .cat", "els => els.map(e => e.textContent)")
            assert shown and set(shown) == {label}

            page.click("li.result a.article-link")
            page.wait_for_selector("#article")
            assert page.eval_on_selector("#article .body", "el => getComputedStyle(el).direction") == "rtl"
            assert page.eval_on_selector_all("#article .body mark", "els => els.length") >= 1
            assert page.eval_on_selector_all("#similar li", "els => els.length") >= 1
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name}: the article page is {overflow}px wider than the screen"
            page.screenshot(path=str(ARTIFACTS / f"web-article-{name}.png"), full_page=name == "desktop")

            page.goto(server_url + "/?q=" + quote("jgs;,m vwnohki"))  # تلسکوپ رصدخانه on an English layout
            page.wait_for_selector("#layout-note")
            assert "تلسکوپ رصدخانه" in page.inner_text("#layout-note")
            page.click("#search-as-typed")
            page.wait_for_load_state()
            assert page.query_selector("#layout-note") is None and "as_typed=1" in page.url
            assert not failed, failed
        finally:
            context.close()
