#!/usr/bin/env bash
# The demo on a fresh machine: install, create the warehouse tables in the embedded PostgreSQL,
# write the sample workbook, run the monthly job plan-only, then execute, then show the audit record;
# then load the same workbook's second sheet (domain annuity_income).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
PY=.venv/bin/python
$PY manage.py migrate --noinput -v 0
$PY manage.py warehouse_ddl --apply
$PY manage.py warehouse_ddl --domain annuity_income --apply
$PY manage.py make_sample
echo; echo "== 1. plan-only: what the job would do (nothing is written)"
$PY manage.py run_job --backfill-refs all --plan-only
echo; echo "== 2. execute: references first, then the facts, in one transaction"
$PY manage.py run_job --backfill-refs all --execute
echo; echo "== 3. the audit record of that run"
$PY manage.py show_run --latest
echo; echo "== 4. the same workbook's sheet 收入明细 (domain annuity_income): execute"
$PY manage.py run_job --domain annuity_income --backfill-refs all --execute
echo
echo "Review it in the admin: $PY manage.py createsuperuser && $PY manage.py runserver"
echo "then open http://127.0.0.1:8000 followed by the path printed above."
