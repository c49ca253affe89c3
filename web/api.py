"""The JSON API: ``/api/search`` (GET and POST), ``/api/articles/<id>``, ``/api/similar/<id>``, ``/api/info``,
``/api/openapi.json`` and ``/healthz``."""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import replace
from datetime import date
from typing import Any
from urllib.parse import quote

from flask import Blueprint, jsonify, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import RequestEntityTooLarge

from index.dates import solar_hijri
from index.store import IndexUnavailable
from search import related
from search.layout import understood
from web.errors import MAX_BODY_BYTES, json_error
from web.holder import EngineUnavailable, engine_holder
from web.openapi import document_for
from web.labels import category_labels
from web.params import BadParameter, check_flag, check_int, check_query, parse_search

log = logging.getLogger(__name__)

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON may escape half a UTF-16 pair ("\\ud800"): not text

api = Blueprint("api", __name__)

UNAVAILABLE = {
    True: "the search index is not built yet; an administrator must build it with "
          "`python -m index.rebuild SOURCE --index DIR` (DIR is KAVOSH_INDEX); try again afterwards",
    False: "the search index cannot be used right now (damaged, being replaced, or built with another model); "
           "the server log says why; try again later",
}


def article_path(article_id: str) -> str:
    """The API address of an article (its id percent-encoded whole: ids are often URLs)."""
    return "/api/articles/" + quote(article_id, safe="")


def facets_json(facets: Any) -> dict[str, Any]:
    labels = category_labels()
    return {
        "category": [{"value": f.value, "count": f.count, "label": labels.all(f.value)} for f in facets.category],
        "year": [{"value": f.value, "count": f.count, "date_from": f.date_from, "date_to": f.date_to} for f in facets.year],
        "solar_hijri_year": [{"value": f.value, "count": f.count, "date_from": f.date_from, "date_to": f.date_to}
                             for f in facets.solar_hijri_year],
    }


def result_json(result: Any) -> dict[str, Any]:
    return {
        "rank": result.rank,
        "score": float(result.score),
        "passage_id": result.passage_id,
        "article_id": result.article_id,
        "title": result.title,
        "link": result.link,
        "category": result.cat,
        "date": result.date,
        "text": result.text,
        "position": result.position,
        "highlights": [[int(start), int(end)] for start, end in result.highlights],
        "highlight_kind": result.highlight_kind,
        "duplicates": list(result.duplicates),
        "article_url": article_path(result.article_id),
    }


@api.errorhandler(EngineUnavailable)
@api.errorhandler(IndexUnavailable)
def unavailable(exc: EngineUnavailable | IndexUnavailable):
    """No usable index: a 503 saying whether it is missing or broken (the log says which file and why)."""
    missing = exc.missing if isinstance(exc, EngineUnavailable) else False
    if isinstance(exc, IndexUnavailable):
        log.error("index failed on %s %s: %s", request.method, request.path, exc)
    response = json_error(503, UNAVAILABLE[missing])
    response.headers["Retry-After"] = "30"
    return response


@api.errorhandler(ValueError)
def bad_request(exc: ValueError):
    """BadParameter, and the engine's own refusals (a query empty after normalization, …): a 400 naming them."""
    return json_error(400, str(exc))


def _read_body() -> dict[str, Any]:
    try:
        raw = request.get_data(cache=False)
        # a streamed (chunked) body is handed over cut at the limit: anything left after it makes it too large
        if len(raw) >= MAX_BODY_BYTES and request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    except ParseException as exc:  # gunicorn's own reader: a malformed chunked body
        raise BadParameter(f"the request body could not be read ({exc}); send it with Content-Length or valid chunks") from None
    if not raw.strip():
        raise BadParameter('the request body is empty; send a JSON object such as {"q": "تورم", "k": 10}')
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, json.JSONDecodeError):
            reason = exc.msg
        elif isinstance(exc, RecursionError):
            reason = "nested too deeply"
        else:
            reason = "not UTF-8 text"
        raise BadParameter(f'the request body is not valid JSON ({reason}); send an object such as {{"q": "تورم"}}') from None
    if not isinstance(body, dict):
        raise BadParameter(f'the request body must be a JSON object such as {{"q": "تورم"}}, not a {type(body).__name__}')
    if _holds_lone_surrogate(body):
        raise BadParameter("the request body holds a lone UTF-16 surrogate escape (such as \\ud800), which is not "
                           "text; send the characters themselves or complete surrogate pairs")
    return body


def _holds_lone_surrogate(body: dict[str, Any]) -> bool:
    """Whether any key or string in the body holds half a surrogate pair (walked without recursion)."""
    pending: list[Any] = [body]
    while pending:
        value = pending.pop()
        if isinstance(value, str) and _LONE_SURROGATE.search(value):
            return True
        if isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


@api.route("/api/search", methods=["GET", "POST"])
def search():
    started = time.perf_counter()
    engine = engine_holder().get()
    source = _read_body() if request.method == "POST" else request.args
    query = parse_search(source, engine.categories(), strict_fields=request.method == "POST")
    searched, layout = understood(query.text, engine, check_flag("as_typed", source.get("as_typed")))
    response = engine.answer(replace(query, text=searched))
    body = {
        "query": query.text,
        "searched_query": response.query,
        "layout": {"typed": layout.typed, "searched": layout.converted, "meant": layout.meant} if layout else None,
        "normalized_query": response.normalized_query,
        "method": query.method,
        "k": query.k,
        "offset": query.offset,
        "filters": {"category": query.category, "date_from": _iso(query.date_from), "date_to": _iso(query.date_to)},
        "total": response.total,
        "counted": response.counted,
        "took_ms": round(float(response.took_ms), 2),
        "index_version": engine.info()["version"],
        "results": [result_json(result) for result in response.results],
        "facets": facets_json(response.facets),
    }
    result = jsonify(body)
    result.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return result


def article_json(view: Any) -> dict[str, Any]:
    return {
        "article_id": view.article_id, "title": view.title, "link": view.link, "category": view.cat,
        "category_label": category_labels().all(view.cat) if view.cat else None, "subcategory": view.subcat,
        "tags": view.tags, "date": view.date, "solar_hijri_date": solar_hijri(view.date).isoformat() if view.date else None,
        "lang": view.lang, "text": view.text, "duplicates": view.duplicates, "query": view.query,
        "highlights": view.highlights, "highlight_kind": view.highlight_kind, "matched_passages": view.matched_passages,
    }


def similar_json(found: list[Any]) -> list[dict[str, Any]]:
    return [{"article_id": s.article_id, "title": s.title, "link": s.link, "category": s.cat, "date": s.date,
             "score": s.score, "article_url": article_path(s.article_id)} for s in found]


def _no_article(article_id: str):
    return json_error(404, f"no article with id {article_id!r} in the index; ids are in search results (article_id)")


@api.route("/api/articles/<path:article_id>")
def article(article_id: str):
    """One article, its passages matching ``q`` highlighted, with its similar articles."""
    engine = engine_holder().get()
    query = request.args.get("q")
    if query is not None:
        query = check_query(query)
    k = check_int("similar", request.args.get("similar"), 0, related.MAX_SIMILAR, related.DEFAULT_SIMILAR)
    view = related.article(engine, article_id, query)
    if view is None:
        return _no_article(article_id)
    body = article_json(view)
    body["similar"] = similar_json(related.similar(engine, article_id, k)) if k else []
    return jsonify(body)


@api.route("/api/similar/<path:article_id>")
def similar(article_id: str):
    """The articles nearest to one article by their vectors, one per story, its duplicates left out."""
    engine = engine_holder().get()
    k = check_int("k", request.args.get("k"), 1, related.MAX_SIMILAR, related.DEFAULT_SIMILAR)
    found = related.similar(engine, article_id, k)
    if found is None:
        return _no_article(article_id)
    return jsonify({"article_id": article_id, "k": k, "similar": similar_json(found)})


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


@api.route("/api/info")
def info():
    engine = engine_holder().get()
    return jsonify({**engine.info(), "categories": list(engine.categories())})


@api.route("/api/openapi.json")
def openapi():
    try:
        categories = engine_holder().get().categories()
    except (EngineUnavailable, IndexUnavailable):
        categories = None
    return jsonify(document_for(categories))


@api.route("/healthz")
def healthz():
    try:
        engine = engine_holder().get()
    except EngineUnavailable as exc:
        return jsonify({"status": "unavailable", "index": "missing" if exc.missing else "unavailable",
                        "message": UNAVAILABLE[exc.missing]}), 503
    return jsonify({"status": "ok", "index": "ready", "version": engine.info()["version"]})
