#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, lint, type-check, Django checks, pytest.
# Tests use DATABASE_URL when set, otherwise the embedded PostgreSQL under .wdh/pgdata.
# Extra arguments go to pytest (e.g. bash scripts/test.sh -k backfill).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy .
echo "== layers"; .venv/bin/lint-imports --no-cache
echo "== django checks"
.venv/bin/python manage.py check --fail-level WARNING
.venv/bin/python manage.py makemigrations --check --dry-run
echo "== pytest"; .venv/bin/python -m pytest "$@"
