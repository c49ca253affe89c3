"""The API's OpenAPI 3.1 document, served at ``/api/openapi.json``; the tests validate real responses against it."""
from __future__ import annotations

import copy
from typing import Any

from search.query import DEFAULT_K, DEFAULT_METHOD, MAX_K, MAX_QUERY_CHARS, METHODS
from search.related import DEFAULT_SIMILAR, MAX_SIMILAR
from web.params import MAX_OFFSET

DATES = ("Dates are written YYYY-MM-DD or YYYY/MM/DD, in Latin or Persian digits; a year below 1700 is Solar Hijri "
         "(1403-01-01 and ۱۴۰۳/۰۱/۰۱ are 2024-03-20), any other year Gregorian.")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("Error"), "A parameter is missing or invalid; the message says which and what to send."),
    "503": _json(_ref("Error"), "The index is not built yet or cannot be used; retry later (Retry-After)."),
    "default": _json(_ref("Error"), "Any other error (404 unknown path, 405 wrong method, …), same shape."),
}

_SEARCH_PARAMETERS = [
    {"name": "q", "in": "query", "required": True, "description": "The query, Persian or English.",
     "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS}},
    {"name": "k", "in": "query", "description": "Number of results.",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": DEFAULT_K}},
    {"name": "offset", "in": "query", "description": "Results to skip (for paging).",
     "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}},
    {"name": "cat", "in": "query", "description": "Only articles of this category (one of /api/info categories).",
     "schema": {"type": "string"}},
    {"name": "date_from", "in": "query", "description": "Only articles published on or after this date. " + DATES,
     "schema": {"type": "string", "maxLength": 40}},
    {"name": "date_to", "in": "query", "description": "Only articles published on or before this date. " + DATES,
     "schema": {"type": "string", "maxLength": 40}},
    {"name": "method", "in": "query",
     "description": "Ranking method: hybrid (dense + lexical, the default), dense (embeddings) or lexical (BM25).",
     "schema": {"type": "string", "enum": list(METHODS), "default": DEFAULT_METHOD}},
    {"name": "as_typed", "in": "query",
     "description": "Search the query exactly as typed, even when it looks typed in the wrong keyboard layout "
                    "(Persian typed on an English layout, or the reverse), which is otherwise converted and searched.",
     "schema": {"type": "boolean", "default": False}},
]
_ARTICLE_ID = {"name": "article_id", "in": "path", "required": True,
               "description": "The article's id (article_id in search results), percent-encoded.",
               "schema": {"type": "string", "minLength": 1}}
_SIMILAR_K = {"type": "integer", "minimum": 1, "maximum": MAX_SIMILAR, "default": DEFAULT_SIMILAR}
_YEAR_FACET = {"type": "array", "items": {
    "type": "object", "additionalProperties": False, "required": ["value", "count", "date_from", "date_to"],
    "properties": {"value": {"type": "string"}, "count": {"type": "integer", "minimum": 1},
                   "date_from": {"type": "string", "format": "date"}, "date_to": {"type": "string", "format": "date"}}}}
_LABEL = {"type": "object", "additionalProperties": False, "required": ["fa", "en"],
          "properties": {"fa": {"type": "string"}, "en": {"type": "string"}}}

_NULLABLE_STRING = {"type": ["string", "null"]}
_HIGHLIGHTS = {
    "type": "array",
    "description": "[start, end) character offsets into text to highlight.",
    "items": {"type": "array", "prefixItems": [{"type": "integer", "minimum": 0}, {"type": "integer", "minimum": 0}],
              "minItems": 2, "maxItems": 2},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Kavosh search API",
        "version": "1.0.0",
        "description": (
            "Semantic search over news articles, Persian first. Errors are JSON objects "
            '{"error": {"status": N, "message": "..."}} whose message says what to change. '
            f"Queries are limited to {MAX_QUERY_CHARS} characters; k to 1..{MAX_K}; offset to 0..{MAX_OFFSET}. "
            + DATES + " Responses are compressed (br, gzip) when the request accepts it; JSON is UTF-8."
        ),
    },
    "paths": {
        "/api/search": {
            "get": {
                "summary": "Search (query string)",
                "operationId": "searchGet",
                "parameters": _SEARCH_PARAMETERS,
                "responses": {"200": _json(_ref("SearchResponse"), "Ranked passages, at most one per article."),
                              **_ERRORS},
            },
            "post": {
                "summary": "Search (JSON body; same fields as the GET parameters)",
                "operationId": "searchPost",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SearchRequest")}}},
                "responses": {"200": _json(_ref("SearchResponse"), "Ranked passages, at most one per article."),
                              **_ERRORS,
                              "413": _json(_ref("Error"), "The body is larger than 64 KiB.")},
            },
        },
        "/api/articles/{article_id}": {
            "get": {
                "summary": "One article: its whole text, the passages matching q highlighted, and similar articles",
                "operationId": "article",
                "parameters": [
                    _ARTICLE_ID,
                    {"name": "q", "in": "query", "description": "A query whose best passages in the article to highlight.",
                     "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS}},
                    {"name": "similar", "in": "query", "description": "How many similar articles to include (0: none).",
                     "schema": {**_SIMILAR_K, "minimum": 0}},
                ],
                "responses": {"200": _json(_ref("Article"), "The article."),
                              "404": _json(_ref("Error"), "No article with this id."), **_ERRORS},
            },
        },
        "/api/similar/{article_id}": {
            "get": {
                "summary": "The articles nearest to one article by their vectors, duplicates left out",
                "operationId": "similar",
                "parameters": [_ARTICLE_ID, {"name": "k", "in": "query", "description": "How many.",
                                             "schema": _SIMILAR_K}],
                "responses": {"200": _json(_ref("SimilarResponse"), "Nearest first, one article per story."),
                              "404": _json(_ref("Error"), "No article with this id."), **_ERRORS},
            },
        },
        "/api/info": {
            "get": {
                "summary": "What is being served",
                "operationId": "info",
                "responses": {"200": _json(_ref("Info"), "The index version, model and counts."),
                              "503": _ERRORS["503"]},
            },
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
            },
        },
        "/healthz": {
            "get": {
                "summary": "Health: whether the process can answer searches",
                "operationId": "health",
                "responses": {"200": _json(_ref("Health"), "Ready to search."),
                              "503": _json(_ref("Health"), "Running, but the index is missing or unusable.")},
            },
        },
    },
    "components": {
        "schemas": {
            "SearchRequest": {
                "type": "object",
                "additionalProperties": False,
                "required": ["q"],
                "properties": {p["name"]: p["schema"] for p in _SEARCH_PARAMETERS},
            },
            "SearchResponse": {
                "type": "object",
                "additionalProperties": False,
                "required": ["query", "searched_query", "layout", "normalized_query", "method", "k", "offset", "filters",
                             "total", "counted", "took_ms", "index_version", "results", "facets"],
                "properties": {
                    "query": {"type": "string", "description": "The query as received."},
                    "searched_query": {"type": "string", "description": "The query searched: the query, or its "
                                       "keyboard-layout conversion (see layout)."},
                    "layout": {
                        "type": ["object", "null"], "additionalProperties": False,
                        "required": ["typed", "searched", "meant"],
                        "description": "Set when the query looked typed in the wrong keyboard layout and was converted; "
                                       "send as_typed=true to search it as typed.",
                        "properties": {"typed": {"type": "string"}, "searched": {"type": "string"},
                                       "meant": {"type": "string", "enum": ["fa", "en"]}},
                    },
                    "normalized_query": {"type": "string", "description": "The query as the engine understood it."},
                    "method": {"type": "string"},
                    "k": {"type": "integer", "minimum": 1, "maximum": MAX_K},
                    "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                    "filters": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["category", "date_from", "date_to"],
                        "properties": {"category": _NULLABLE_STRING, "date_from": _NULLABLE_STRING,
                                       "date_to": _NULLABLE_STRING},
                    },
                    "total": {"type": "integer", "minimum": 0, "description": "Articles found in all."},
                    "counted": {"type": "boolean", "description": "true (lexical): total counts the articles holding a "
                                "query word; false (dense, hybrid): every article near the query is ranked, so the "
                                "results are the best matches, most similar first, and total is how many were ranked."},
                    "facets": _ref("Facets"),
                    "took_ms": {"type": "number", "minimum": 0, "description": "Time the engine took."},
                    "index_version": {"type": "string",
                                      "description": "The index version that answered, wholly (see /api/info)."},
                    "results": {"type": "array", "items": _ref("Result")},
                },
            },
            "Result": {
                "type": "object",
                "additionalProperties": False,
                "required": ["rank", "score", "passage_id", "article_id", "title", "link", "category", "date", "text",
                             "position", "highlights", "highlight_kind", "duplicates"],
                "properties": {
                    "rank": {"type": "integer", "minimum": 1},
                    "score": {"type": "number"},
                    "passage_id": {"type": "integer", "minimum": 0},
                    "article_id": {"type": "string"},
                    "title": {"type": "string"},
                    "link": {"type": "string", "description": "As stored; not necessarily http(s): check before linking."},
                    "category": {"type": "string", "description": "Empty when unknown."},
                    "date": _NULLABLE_STRING,
                    "text": {"type": "string", "description": "The passage."},
                    "position": {"type": "integer", "minimum": 0, "description": "The passage's place in its article."},
                    "highlights": {
                        "type": "array",
                        "description": "[start, end) character offsets into text to highlight.",
                        "items": {"type": "array", "prefixItems": [{"type": "integer", "minimum": 0},
                                                                    {"type": "integer", "minimum": 0}],
                                  "minItems": 2, "maxItems": 2},
                    },
                    "highlight_kind": {"type": "string", "enum": ["terms", "sentence"],
                                       "description": "terms: the query's words; sentence: the passage's sentence "
                                                      "closest to the query (no shared word)."},
                    "duplicates": {"type": "array", "items": {"type": "string"},
                                   "description": "Ids of articles that are the same story, folded into this result."},
                    "article_url": {"type": "string", "description": "The article in this API (/api/articles/…)."},
                },
            },
            "Facets": {
                "type": "object", "additionalProperties": False,
                "required": ["category", "year", "solar_hijri_year"],
                "description": "Counts of all matching articles (not only this page) per category and per year; "
                               "filter with cat, or with a year's date_from and date_to.",
                "properties": {
                    "category": {"type": "array", "items": {
                        "type": "object", "additionalProperties": False, "required": ["value", "count", "label"],
                        "properties": {"value": {"type": "string"}, "count": {"type": "integer", "minimum": 1},
                                       "label": _LABEL}}},
                    "year": _YEAR_FACET,
                    "solar_hijri_year": _YEAR_FACET,
                },
            },
            "Similar": {
                "type": "object", "additionalProperties": False,
                "required": ["article_id", "title", "link", "category", "date", "score", "article_url"],
                "properties": {"article_id": {"type": "string"}, "title": {"type": "string"}, "link": {"type": "string"},
                               "category": {"type": "string"}, "date": _NULLABLE_STRING, "score": {"type": "number"},
                               "article_url": {"type": "string"}},
            },
            "SimilarResponse": {
                "type": "object", "additionalProperties": False, "required": ["article_id", "k", "similar"],
                "properties": {"article_id": {"type": "string"}, "k": {"type": "integer", "minimum": 1},
                               "similar": {"type": "array", "items": _ref("Similar")}},
            },
            "Article": {
                "type": "object", "additionalProperties": False,
                "required": ["article_id", "title", "link", "category", "category_label", "subcategory", "tags", "date",
                             "solar_hijri_date", "lang", "text", "duplicates", "query", "highlights", "highlight_kind",
                             "matched_passages", "similar"],
                "properties": {
                    "article_id": {"type": "string"}, "title": {"type": "string"}, "link": {"type": "string"},
                    "category": {"type": "string"}, "category_label": {"oneOf": [_LABEL, {"type": "null"}]},
                    "subcategory": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                    "date": {**_NULLABLE_STRING, "description": "ISO Gregorian."},
                    "solar_hijri_date": {**_NULLABLE_STRING, "description": "The same day, YYYY-MM-DD Solar Hijri."},
                    "lang": _NULLABLE_STRING, "text": {"type": "string", "description": "The whole article."},
                    "duplicates": {"type": "array", "items": {"type": "string"},
                                   "description": "Ids of the same story published again."},
                    "query": _NULLABLE_STRING,
                    "highlights": _HIGHLIGHTS,
                    "highlight_kind": {"type": "string", "enum": ["terms", "sentence"]},
                    "matched_passages": {**_HIGHLIGHTS, "description": "[start, end) offsets into text of the passages "
                                         "that matched q best."},
                    "similar": {"type": "array", "items": _ref("Similar")},
                },
            },
            "Info": {
                "type": "object",
                "required": ["version", "model", "dimension", "articles", "passages", "built_at", "categories"],
                "properties": {
                    "version": {"type": "string"},
                    "model": {"type": "string"},
                    "dimension": {"type": "integer", "minimum": 1},
                    "articles": {"type": "integer", "minimum": 0},
                    "passages": {"type": "integer", "minimum": 0},
                    "built_at": {"type": "string"},
                    "categories": {"type": "array", "items": {"type": "string"}},
                },
            },
            "Health": {
                "type": "object",
                "additionalProperties": False,
                "required": ["status", "index"],
                "properties": {
                    "status": {"type": "string", "enum": ["ok", "unavailable"]},
                    "index": {"type": "string", "enum": ["ready", "missing", "unavailable"]},
                    "version": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
            "Error": {
                "type": "object",
                "additionalProperties": False,
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["status", "message"],
                        "properties": {"status": {"type": "integer", "minimum": 400, "maximum": 599},
                                       "message": {"type": "string", "minLength": 1}},
                    },
                },
            },
        },
    },
}



def document_for(categories: list[str] | None) -> dict[str, Any]:
    """The document as served: the category filter lists the categories of the index being served, since
    any other value is refused."""
    if categories is None:
        return OPENAPI
    document = copy.deepcopy(OPENAPI)
    category = {"type": "string", "enum": categories}
    for parameter in document["paths"]["/api/search"]["get"]["parameters"]:
        if parameter["name"] == "cat":
            parameter["schema"] = category
    document["components"]["schemas"]["SearchRequest"]["properties"]["cat"] = category
    return document
