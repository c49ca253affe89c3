"""Error answers: JSON for the API, a page for people, and a plain last resort when even that fails."""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from web.i18n import DIRECTION, LABELS, pick_language

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
JSON_PREFIXES = ("/api/", "/healthz")


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES) or request.path == "/api"


def json_error(status: int, message: str):
    response = jsonify({"error": {"status": status, "message": message}})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Answer every error, expected or not, in the form the client asked for."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        try:
            if wants_json():
                response = json_error(status, http_message(exc, status))
                if status == 405 and getattr(exc, "valid_methods", None):
                    response.headers["Allow"] = ", ".join(exc.valid_methods)
                return response
            return error_page(status)
        except Exception:  # an error while reporting an error: answer plainly rather than with a traceback
            log.exception("error handler failed for %s %s", request.method, request.path)
            return last_resort(status)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        try:
            if wants_json():
                return json_error(500, "internal error while answering; the server log has the details")
            return error_page(InternalServerError.code)
        except Exception:
            return last_resort(500)


def error_page(status: int):
    lang = pick_language(request.args.get("lang"))
    key = {404: "not_found", 405: "method_not_allowed"}.get(status, "server_error" if status >= 500 else "bad_request")
    return render_template("error.html", t=LABELS[lang], lang=lang, dir=DIRECTION[lang], status=status,
                           message_key=key), status


def http_message(exc: HTTPException, status: int) -> str:
    if status == 404:
        return f"no such endpoint {request.path!r}; the API is described at /api/openapi.json"
    if status == 405:
        allowed = sorted(set(getattr(exc, "valid_methods", None) or []) - {"HEAD", "OPTIONS"})
        return f"{request.method} is not allowed on {request.path}; use {' or '.join(allowed) or 'another method'}"
    if status == 413:
        return f"the request body is larger than {MAX_BODY_BYTES} bytes"
    if status == 400:
        return "the request could not be read (malformed URL, headers or body); check how it is encoded"
    return exc.name


def last_resort(status: int):
    body = '{"error": {"status": %d, "message": "the server could not answer this request"}}' % status
    return Response(body, status=status, mimetype="application/json")
