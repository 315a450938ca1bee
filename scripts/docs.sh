#!/usr/bin/env bash
# The documentation site: Sphinx (MyST Markdown pages, autodoc, tables generated from the code)
# into docs/_build/html, with warnings as errors. Always from scratch (-E): the generated tables
# read the code, which an incremental build would not notice changing. Creates .venv first if it is missing.
# Extra arguments go to sphinx-build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -x .venv/bin/sphinx-build ] || bash scripts/bootstrap.sh
# autodoc imports the provider, which imports Airflow: a throw-away home, nothing from ~/airflow.
AIRFLOW_HOME="$(mktemp -d "${TMPDIR:-/tmp}/lambda-ue-docs.XXXXXX")"
export AIRFLOW_HOME
trap 'rm -rf "$AIRFLOW_HOME"' EXIT
.venv/bin/sphinx-build -E -W --keep-going -q -b html "$@" docs docs/_build/html
echo "docs: $ROOT/docs/_build/html/index.html"
