#!/usr/bin/env bash
# The production server: nginx (in front, on KAVOSH_HOST:KAVOSH_PORT) and gunicorn (behind it, on
# 127.0.0.1:KAVOSH_BACKEND_PORT); Ctrl-C or SIGTERM stops both. Settings: settings.py (environment).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m web.serve "$@"
