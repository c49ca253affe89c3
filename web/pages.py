"""The search page: a plain GET form (``/?q=…&page=…&cat=…&lang=en``) that works without JavaScript."""
from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, render_template, request, url_for

from index.persian import normalize
from index.store import IndexUnavailable
from search.query import MAX_QUERY_CHARS, Query
from web.holder import EngineUnavailable, engine_holder
from web.i18n import DIRECTION, LABELS, digits, pick_language
from web.markup import highlight, safe_href
from web.params import MAX_PAGE, PAGE_SIZE

pages = Blueprint("pages", __name__)  # templates and static files are the app's (web/templates, web/static)

PAGE_WINDOW = 2  # page links shown either side of the current one


def _page_number(value: str | None) -> int:
    """The requested page, 1 for anything unusable, at most the last page the API can reach."""
    if value is None or not value.strip().isdigit():
        return 1
    return max(1, min(int(value.strip()), MAX_PAGE))


def _view(result: Any) -> dict[str, Any]:
    return {
        "rank": result.rank,
        "score": f"{float(result.score):.3f}",
        "title": result.title,
        "href": safe_href(result.link),
        "has_link": bool(result.link),
        "cat": result.cat,
        "date": result.date,
        "passage": highlight(result.text, result.highlights, result.highlight_kind),
    }


@pages.route("/")
def index():
    lang = pick_language(request.args.get("lang"))
    t = LABELS[lang]
    raw_query = request.args.get("q", "")
    page = _page_number(request.args.get("page"))
    category = request.args.get("cat", "") or None
    context: dict[str, Any] = {
        "t": t, "lang": lang, "dir": DIRECTION[lang], "q": raw_query, "cat": category or "", "categories": [],
        "state": "empty", "results": [], "error": None,
        "other_lang_url": url_for("pages.index", **_link_args(raw_query, category, page if raw_query else None,
                                                               "en" if lang == "fa" else "fa")),
    }
    try:
        engine = engine_holder().get()
    except EngineUnavailable as exc:
        context["state"] = "missing" if exc.missing else "unavailable"
        return render_template("index.html", **context), 503
    context["categories"] = list(engine.categories())
    if not raw_query.strip():
        return render_template("index.html", **context)
    if len(raw_query) > MAX_QUERY_CHARS:
        context.update(state="error", error=t["too_long"].format(n=digits(len(raw_query), lang),
                                                                  max=digits(MAX_QUERY_CHARS, lang)))
        return render_template("index.html", **context), 400
    if category and category not in context["categories"]:
        context.update(state="error", error=t["unknown_category"].format(cat=category))
        return render_template("index.html", **context), 400
    if not normalize(raw_query):  # only punctuation or invisible characters: nothing to search for
        return render_template("index.html", **context)
    try:
        response = engine.answer(Query(raw_query, PAGE_SIZE, (page - 1) * PAGE_SIZE, category=category))
    except IndexUnavailable:
        context["state"] = "unavailable"
        return render_template("index.html", **context), 503
    except ValueError as exc:  # the engine's own refusal; its message is English
        context.update(state="error", error=str(exc))
        return render_template("index.html", **context), 400
    last_page = max(1, min(MAX_PAGE, math.ceil(response.total / PAGE_SIZE)))
    context.update(
        state="results" if response.total else "none",
        results=[_view(result) for result in response.results],
        found=t["found"].format(total=digits(response.total, lang), ms=digits(round(response.took_ms), lang)),
        no_results=t["no_results"].format(q=raw_query),
        pagination=_pagination(raw_query, category, lang, page, last_page) if response.total else None,
    )
    return render_template("index.html", **context)


def _link_args(q: str, category: str | None, page: int | None, lang: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if q:
        args["q"] = q
    if category:
        args["cat"] = category
    if page and page > 1:
        args["page"] = page
    if lang == "en":
        args["lang"] = "en"
    return args


def _pagination(q: str, category: str | None, lang: str, page: int, last_page: int) -> dict[str, Any] | None:
    if last_page <= 1 and page <= 1:
        return None

    def link(number: int) -> str:
        return url_for("pages.index", **_link_args(q, category, number, lang))

    numbers = range(max(1, page - PAGE_WINDOW), min(last_page, page + PAGE_WINDOW) + 1)
    return {
        "previous": link(page - 1) if page > 1 else None,
        "next": link(page + 1) if page < last_page else None,
        "pages": [{"number": digits(n, lang), "url": link(n), "current": n == page,
                   "label": LABELS[lang]["page"].format(n=digits(n, lang))} for n in numbers],
    }
