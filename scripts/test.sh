#!/usr/bin/env bash
# The whole test suite on a fresh machine: creates .venv, then lint, types and pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -k proxy).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh

# An isolated Airflow home: nothing leaks in from, or out to, ~/airflow.
AIRFLOW_HOME="$(mktemp -d "${TMPDIR:-/tmp}/lambda-ue-test.XXXXXX")"
export AIRFLOW_HOME
trap 'rm -rf "$AIRFLOW_HOME"' EXIT
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# No real AWS credentials or proxies from the caller's environment reach the tests.
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN HTTP_PROXY HTTPS_PROXY http_proxy https_proxy
export NO_PROXY="*"

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
# pytest exits 5 when it collects no test: that is a failure here, as any non-zero exit is.
.venv/bin/python -m pytest "$@"

# The compatibility tier: the package in a locked environment of every supported Airflow minor
# release (compat/*.txt, built once into .compat-envs/), each its own line of the summary.
# LAMBDA_UE_COMPAT=3.0,3.3 narrows it; tests/compat/envs.py says how the locks are made.
echo "== compatibility tier"
.venv/bin/python -m tests.compat.envs build
.venv/bin/python -m pytest tests/compat -q -p no:cacheprovider
