#!/usr/bin/env bash
# The fast tier: tests/unit only (no server, no subprocess: tests/unit/conftest.py refuses both),
# under a minute. Creates .venv first if it is missing. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# bootstrap.sh costs seconds even when nothing changed; the fast tier runs it only for a fresh clone.
[ -x .venv/bin/python ] || bash scripts/bootstrap.sh

# As in test.sh: an isolated Airflow home, and nothing of the caller's AWS set-up.
AIRFLOW_HOME="$(mktemp -d "${TMPDIR:-/tmp}/lambda-ue-unit.XXXXXX")"
export AIRFLOW_HOME
trap 'rm -rf "$AIRFLOW_HOME"' EXIT
export AIRFLOW__CORE__LOAD_EXAMPLES=False
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN HTTP_PROXY HTTPS_PROXY http_proxy https_proxy
export NO_PROXY="*"

started=$(date +%s)
status=0
# Serially: the tier is CPU-bound and short, so worker start-up would cost more than it saves.
.venv/bin/python -m pytest tests/unit "$@" || status=$?
echo "== unit tier wall time: $(( $(date +%s) - started )) s (exit $status)"
exit "$status"
