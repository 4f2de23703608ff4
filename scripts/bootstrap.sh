#!/usr/bin/env bash
# Create .venv (if missing) and install the pinned requirements into it. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
# The admin's stylesheets and scripts, into .wdh/static (git-ignored), where WhiteNoise serves
# them from with DEBUG off (README "Serving the admin").
.venv/bin/python manage.py collectstatic --noinput -v 0
