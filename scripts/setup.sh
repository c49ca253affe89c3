#!/usr/bin/env bash
# Create .venv with everything in requirements.txt, install the project into it (the `kavosh` command), and install nginx (scripts/serve.sh) if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
    else
        echo "note: nginx is not installed; scripts/serve.sh needs it (sudo apt-get install nginx)" >&2
    fi
fi
if [ ! -x .venv/bin/python ]; then
    python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
# editable, with the venv's own setuptools: nothing is fetched beyond the requirements above
.venv/bin/pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e .
