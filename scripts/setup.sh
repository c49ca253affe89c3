#!/usr/bin/env bash
# Create .venv with everything in requirements.txt, and install the project into it (the `kavosh` command).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
# editable, with the venv's own setuptools: nothing is fetched beyond the requirements above
.venv/bin/pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e .
