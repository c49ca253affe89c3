"""``python -m web``: the development server (debug stays off). Serve with gunicorn in production:
``gunicorn 'web.app:create_app()'`` (settings in gunicorn.conf.py)."""
from __future__ import annotations

import argparse
import logging
import sys

from kavosh.cli import setup_logging
from settings import Settings
from web.app import create_app


def main(argv: list[str] | None = None) -> int:
    setup_logging(0, logging.INFO)
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m web", description="Run the Kavosh search site (development server).")
    parser.add_argument("--host", default=settings.host, help="address to listen on (env KAVOSH_HOST; default %(default)s)")
    parser.add_argument("--port", type=int, default=settings.port, help="port (env KAVOSH_PORT; default %(default)s)")
    args = parser.parse_args(argv)
    app = create_app(settings)
    app.run(host=args.host, port=args.port, debug=False, use_reloader=False, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
