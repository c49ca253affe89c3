"""The JSON API: ``/api/search`` (GET and POST), ``/api/info``, ``/api/openapi.json`` and ``/healthz``."""
from __future__ import annotations

import json
import logging
import time
from datetime import date
from typing import Any

from flask import Blueprint, jsonify, request

from index.store import IndexUnavailable
from web.errors import json_error
from web.holder import EngineUnavailable, engine_holder
from web.openapi import document_for
from web.params import BadParameter, parse_search

log = logging.getLogger(__name__)

api = Blueprint("api", __name__)

UNAVAILABLE = {
    True: "the search index is not built yet; an administrator must build it with "
          "`python -m index.rebuild SOURCE --index DIR` (DIR is KAVOSH_INDEX); try again afterwards",
    False: "the search index cannot be used right now (damaged, being replaced, or built with another model); "
           "the server log says why; try again later",
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
    }


def unavailable(exc: EngineUnavailable | IndexUnavailable):
    missing = exc.missing if isinstance(exc, EngineUnavailable) else False
    response = json_error(503, UNAVAILABLE[missing])
    response.headers["Retry-After"] = "30"
    return response


def _read_body() -> dict[str, Any]:
    raw = request.get_data(cache=False)
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
    return body


@api.route("/api/search", methods=["GET", "POST"])
def search():
    started = time.perf_counter()
    try:
        engine = engine_holder().get()
        source = _read_body() if request.method == "POST" else request.args
        query = parse_search(source, engine.categories(), strict_fields=request.method == "POST")
        response = engine.answer(query)
    except EngineUnavailable as exc:
        return unavailable(exc)
    except IndexUnavailable as exc:
        log.error("index failed during a search: %s", exc)
        return unavailable(exc)
    except ValueError as exc:  # BadParameter, and the engine's own refusals (empty after normalization, …)
        return json_error(400, str(exc))
    body = {
        "query": response.query,
        "normalized_query": response.normalized_query,
        "method": query.method,
        "k": query.k,
        "offset": query.offset,
        "filters": {"category": query.category, "date_from": _iso(query.date_from), "date_to": _iso(query.date_to)},
        "total": response.total,
        "took_ms": round(float(response.took_ms), 2),
        "index_version": engine.info()["version"],
        "results": [result_json(result) for result in response.results],
    }
    result = jsonify(body)
    result.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return result


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


@api.route("/api/info")
def info():
    try:
        engine = engine_holder().get()
    except EngineUnavailable as exc:
        return unavailable(exc)
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
