"""Flask application factory: ``create_app()`` for gunicorn (``gunicorn 'web.app:create_app()'``) and tests.

The search engine (index + model) is opened once per process, when the app is created (under gunicorn
with ``preload_app``, once in the master, shared by the workers), and follows the index's live version
(:class:`search.live.LiveEngine`). When the index is not built yet the app still starts: the page says
so and the API answers 503, and the index is looked for again (at most every ``RETRY_SECONDS``) so that
a later build is picked up without a restart.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_compress import Compress
from werkzeug.exceptions import HTTPException, InternalServerError

from index.store import IndexMissing, IndexUnavailable
from settings import Settings
from web.i18n import DIRECTION, LABELS, pick_language
from web.labels import CategoryLabels

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0
MAX_BODY_BYTES = 64 * 1024
COMPRESS_MIN_BYTES = 500  # below about this a compressed body plus its header saves nothing
JSON_PREFIXES = ("/api/", "/healthz")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class EngineUnavailable(Exception):
    """No engine to answer with; ``missing`` tells "not built yet" from "broken"."""

    def __init__(self, missing: bool) -> None:
        super().__init__("index missing" if missing else "index unavailable")
        self.missing = missing


class EngineHolder:
    """The process's search engine, or why there is none.

    Normally a :class:`search.live.LiveEngine`: each request takes the engine of the index's live
    version (so a rebuild or update is served without a restart, and one request never mixes two
    versions). An engine passed in (tests, embedding) is used as it is. When the index could not be
    opened, opening is tried again at most every ``RETRY_SECONDS``, so a later first build is picked up.
    """

    def __init__(self, settings: Settings, engine: Any = None) -> None:
        self.settings = settings
        self.fixed = engine
        self.live: Any = None
        self.problem: IndexUnavailable | None = None
        self._lock = threading.Lock()
        self._tried_at = 0.0
        if engine is None:
            self._open()

    def _open(self) -> None:
        from search.live import LiveEngine  # imports torch; only when an index is really opened

        self._tried_at = time.monotonic()
        try:
            self.live = LiveEngine(self.settings.index_dir, self.settings)
            self.problem = None
            log.info("serving index %s", self.settings.index_dir)
        except IndexUnavailable as exc:
            if self.problem is None or str(self.problem) != str(exc):  # say it once, not on every retry
                log.warning("search is unavailable until the index is usable: %s", exc)
            self.problem = exc

    @property
    def engine(self) -> Any:
        """The engine a request would get now, or ``None``."""
        if self.fixed is not None:
            return self.fixed
        return self.live.get() if self.live is not None else None

    def get(self) -> Any:
        """The engine to answer one request with (use it for the whole request), or :class:`EngineUnavailable`."""
        if self.fixed is not None:
            return self.fixed
        if self.live is None and time.monotonic() - self._tried_at >= RETRY_SECONDS:
            with self._lock:
                if self.live is None and time.monotonic() - self._tried_at >= RETRY_SECONDS:
                    self._open()
        if self.live is None:
            raise EngineUnavailable(isinstance(self.problem, IndexMissing))
        return self.live.get()


def engine_holder(app: Flask | None = None) -> EngineHolder:
    from flask import current_app

    return (app or current_app).extensions["kavosh"]


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES) or request.path == "/api"


def json_error(status: int, message: str):
    response = jsonify({"error": {"status": status, "message": message}})
    response.status_code = status
    return response


def create_app(settings: Settings | None = None, engine: Any = None) -> Flask:
    """The web app over ``engine``, or over the index that ``settings`` (default: the environment) names."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        DEBUG=False,
        TESTING=False,
        PROPAGATE_EXCEPTIONS=False,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    # responses over COMPRESS_MIN_BYTES are compressed when the client accepts it: gzip first (smaller than
    # flask-compress's default brotli level on our pages, docs/benchmarks.md), brotli for clients that take only it
    app.config.update(COMPRESS_ALGORITHM=["gzip", "br"], COMPRESS_MIN_SIZE=COMPRESS_MIN_BYTES)
    Compress(app)
    app.extensions["kavosh"] = EngineHolder(settings, engine)
    app.extensions["kavosh_labels"] = CategoryLabels.load(settings.category_labels)

    from web.api import api
    from web.pages import pages

    app.register_blueprint(pages)
    app.register_blueprint(api)

    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if wants_json():
            response.headers.setdefault("Cache-Control", "no-store")
        return response

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

    return app


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
    from flask import Response

    body = '{"error": {"status": %d, "message": "the server could not answer this request"}}' % status
    return Response(body, status=status, mimetype="application/json")
