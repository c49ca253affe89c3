"""Flask application factory: ``create_app()`` for gunicorn (``gunicorn 'web.app:create_app()'``) and tests.

The search engine (index + model) is opened once per process, when the app is created (under gunicorn
with ``preload_app``, once in the master, shared by the workers), and follows the index's live version
(:class:`search.live.LiveEngine`). When the index is not built yet the app still starts: the page says
so and the API answers 503, and the index is looked for again (at most every ``web.holder.RETRY_SECONDS``) so that
a later build is picked up without a restart.
"""
from __future__ import annotations

from typing import Any

from flask import Flask
from flask_compress import Compress

from settings import Settings
from web.api import api
from web.errors import MAX_BODY_BYTES, register_error_handlers, wants_json
from web.holder import EngineHolder
from web.labels import CategoryLabels
from web.pages import pages

COMPRESS_MIN_BYTES = 500  # below about this a compressed body plus its header saves nothing

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

    app.register_blueprint(pages)
    app.register_blueprint(api)

    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if wants_json():
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    register_error_handlers(app)
    return app
