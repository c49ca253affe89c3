#!/usr/bin/env bash
# Set everything up, index the bundled sample articles, show two searches, then serve the web app.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export KAVOSH_INDEX="${KAVOSH_INDEX:-var/index}"
.venv/bin/python -m index.rebuild data/sample/articles.jsonl --index "$KAVOSH_INDEX"
.venv/bin/python -m search "آلودگی هوا و تعطیلی مدارس" -k 3
.venv/bin/python -m search "oil exports from Jask" -k 3
echo "Serving the search page at http://${KAVOSH_HOST:-127.0.0.1}:${KAVOSH_PORT:-8000}/ (Ctrl-C to stop)"
exec .venv/bin/gunicorn 'web.app:create_app()'
