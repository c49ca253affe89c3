"""The search page (``/?q=…&page=…&cat=…&date_from=…&date_to=…&lang=en``) and the article page
(``/article/<id>``): plain GET forms and links that work without JavaScript."""
from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, render_template, request, url_for

from index.dates import display_date
from index.persian import normalize
from index.store import IndexUnavailable
from search import related
from search.layout import understood
from search.query import MAX_QUERY_CHARS, Query
from web.holder import EngineUnavailable, engine_holder
from web.i18n import DIRECTION, LABELS, digits, pick_language
from web.labels import category_labels
from web.markup import highlight, safe_href
from web.params import MAX_PAGE, PAGE_SIZE, BadParameter, check_date

pages = Blueprint("pages", __name__)  # templates and static files are the app's (web/templates, web/static)

PAGE_WINDOW = 2  # page links shown either side of the current one
FILTERS = ("cat", "date_from", "date_to")  # kept, as typed, in every link of a results page
_PAGE_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")


def _page_number(value: str | None) -> int | None:
    """The requested page (1 when absent), or None when it is not a page the API can reach. Persian and
    Arabic-Indic digits are converted (people type them); no other character is a digit here."""
    if value is None or not value.strip():
        return 1
    text = value.strip().translate(_PAGE_DIGITS)
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_PAGE)) or not 1 <= int(text) <= MAX_PAGE:
        return None
    return int(text)


def article_href(article_id: str, q: str | None, lang: str) -> str:
    """The article page's address (the id percent-encoded whole: ids are often URLs)."""
    args = {key: value for key, value in (("q", q), ("lang", "en" if lang == "en" else None)) if value}
    return "/article/" + quote(article_id, safe="") + ("?" + urlencode(args) if args else "")


def _view(result: Any, lang: str, q: str) -> dict[str, Any]:
    return {
        "rank": result.rank,
        "score": digits(f"{float(result.score):.3f}", lang),
        "title": result.title,
        "href": safe_href(result.link),
        "has_link": bool(result.link),
        "cat": result.cat,
        "cat_label": category_labels().label(result.cat, lang),
        "date": result.date,
        "date_shown": display_date(result.date, lang),
        "passage": highlight(result.text, result.highlights, result.highlight_kind),
        "article_href": article_href(result.article_id, q, lang),
    }


def _search_url(q: str, lang: str, page: int | None = None, **filters: str | None) -> str:
    """A results page's address: the query, the given filters (None drops one) and the page."""
    args: dict[str, Any] = {"q": q} if q else {}
    args.update((name, value) for name, value in filters.items() if value)
    if page and page > 1:
        args["page"] = page
    if lang == "en":
        args["lang"] = "en"
    return url_for("pages.index", **args)


@pages.route("/")
def index():
    lang = pick_language(request.args.get("lang"))
    t = LABELS[lang]
    raw_query = request.args.get("q", "")
    page = _page_number(request.args.get("page"))
    filters = {name: request.args.get(name, "").strip() or None for name in FILTERS}
    cat = filters["cat"]
    as_typed = request.args.get("as_typed") == "1"
    context: dict[str, Any] = {
        "t": t, "lang": lang, "dir": DIRECTION[lang], "q": raw_query, "cat": cat or "", "categories": [],
        "date_from": filters["date_from"] or "", "date_to": filters["date_to"] or "",
        "state": "empty", "results": [], "error": None, "facets": None, "layout": None,
        "other_lang_url": _search_url(raw_query, "en" if lang == "fa" else "fa", page if raw_query else None, **filters),
    }
    if page is None:
        context.update(state="error", error=t["bad_page"].format(max=digits(MAX_PAGE, lang)))
        return render_template("index.html", **context), 400
    try:
        engine = engine_holder().get()
    except EngineUnavailable as exc:
        context["state"] = "missing" if exc.missing else "unavailable"
        return render_template("index.html", **context), 503
    context["categories"] = list(engine.categories())
    context["category_names"] = {c: category_labels().label(c, lang) for c in context["categories"]}
    if not raw_query.strip():
        return render_template("index.html", **context)
    if len(raw_query) > MAX_QUERY_CHARS:
        context.update(state="error", error=t["too_long"].format(n=digits(len(raw_query), lang),
                                                                  max=digits(MAX_QUERY_CHARS, lang)))
        return render_template("index.html", **context), 400
    if cat and cat not in context["categories"]:
        context.update(state="error", error=t["unknown_category"].format(cat=cat))
        return render_template("index.html", **context), 400
    try:
        dates = {name: check_date(name, filters[name]) for name in ("date_from", "date_to")}
    except BadParameter:
        context.update(state="error", error=t["bad_date"])
        return render_template("index.html", **context), 400
    if not normalize(raw_query):  # only punctuation or invisible characters: nothing to search for
        return render_template("index.html", **context)
    try:
        searched, layout = understood(raw_query, engine, as_typed)
        response = engine.answer(Query(searched, PAGE_SIZE, (page - 1) * PAGE_SIZE, category=cat, **dates))
    except IndexUnavailable:
        context["state"] = "unavailable"
        return render_template("index.html", **context), 503
    except ValueError as exc:  # the engine's own refusal; its message is English
        context.update(state="error", error=str(exc))
        return render_template("index.html", **context), 400
    last_page = max(1, min(MAX_PAGE, math.ceil(response.total / PAGE_SIZE)))
    found = t["found"] if response.counted else t["best_matches"]
    context.update(
        state="results" if response.total else "none",
        results=[_view(result, lang, searched) for result in response.results],
        found=found.format(total=digits(response.total, lang), ms=digits(round(response.took_ms), lang)),
        no_results=t["no_results"].format(q=searched),
        pagination=_pagination(raw_query, filters, lang, page, last_page, as_typed) if response.total else None,
        facets=_facets(response.facets, raw_query, filters, lang) if response.total else None,
        layout={"searched": layout.converted, "typed": layout.typed,
                "typed_url": _search_url(layout.typed, lang, **filters) + "&as_typed=1"} if layout else None,
    )
    return render_template("index.html", **context)


def _facets(facets: Any, q: str, filters: dict[str, str | None], lang: str) -> dict[str, Any]:
    """Facet links: each narrows the results to one category or year (in the reader's calendar); the
    chosen one links back to the unfiltered results."""
    labels = category_labels()
    years = facets.solar_hijri_year if lang == "fa" else facets.year
    chosen_dates = (filters["date_from"], filters["date_to"])
    return {
        "category": [{"label": labels.label(f.value, lang), "count": digits(f.count, lang), "current": f.value == filters["cat"],
                      "url": _search_url(q, lang, **{**filters, "cat": None if f.value == filters["cat"] else f.value})}
                     for f in facets.category],
        "year": [{"label": digits(f.value, lang), "count": digits(f.count, lang),
                  "current": chosen_dates == (f.date_from, f.date_to),
                  "url": _search_url(q, lang, **({**filters, "date_from": None, "date_to": None}
                                                  if chosen_dates == (f.date_from, f.date_to)
                                                  else {**filters, "date_from": f.date_from, "date_to": f.date_to}))}
                 for f in years],
    }


def _pagination(q: str, filters: dict[str, str | None], lang: str, page: int, last_page: int,
                as_typed: bool) -> dict[str, Any] | None:
    if last_page <= 1 and page <= 1:
        return None

    def link(number: int) -> str:
        return _search_url(q, lang, number, **filters) + ("&as_typed=1" if as_typed else "")

    numbers = range(max(1, page - PAGE_WINDOW), min(last_page, page + PAGE_WINDOW) + 1)
    return {
        "previous": link(page - 1) if page > 1 else None,
        "next": link(page + 1) if page < last_page else None,
        "pages": [{"number": digits(n, lang), "url": link(n), "current": n == page,
                   "label": LABELS[lang]["page"].format(n=digits(n, lang))} for n in numbers],
    }


@pages.route("/article/<path:article_id>")
def article(article_id: str):
    """The whole article, the passages that matched the query marked, and the articles most like it."""
    lang = pick_language(request.args.get("lang"))
    t = LABELS[lang]
    query = request.args.get("q", "")[:MAX_QUERY_CHARS] or None
    context: dict[str, Any] = {"t": t, "lang": lang, "dir": DIRECTION[lang], "q": query or "",
                               "other_lang_url": article_href(article_id, query, "en" if lang == "fa" else "fa")}
    try:
        engine = engine_holder().get()
        view = related.article(engine, article_id, query)
        if view is None:
            return render_template("error.html", status=404, message_key="no_article", **context), 404
        neighbours = related.similar(engine, article_id, related.DEFAULT_SIMILAR) or []
    except (EngineUnavailable, IndexUnavailable):
        return render_template("error.html", status=503, message_key="index_unavailable", **context), 503
    labels = category_labels()
    context.update(
        article=view,
        href=safe_href(view.link),
        cat_label=labels.label(view.cat, lang) if view.cat else "",
        date_shown=display_date(view.date, lang),
        body=highlight(view.text, view.highlights, view.highlight_kind),
        back_url=_search_url(query or "", lang),
        duplicates=[{"id": other, "href": article_href(other, query, lang)} for other in view.duplicates],
        similar=[{"title": s.title, "href": article_href(s.article_id, None, lang),
                  "cat_label": labels.label(s.cat, lang) if s.cat else "", "date_shown": display_date(s.date, lang)}
                 for s in neighbours],
    )
    return render_template("article.html", **context)
