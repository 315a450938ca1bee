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
# Bytecode for the project's own modules, written once: with PYTHONDONTWRITEBYTECODE set (as on
# these machines) every test worker, lambda-ue and Airflow process would compile them again, and
# pytest would rewrite and compile every test module in each worker (about 5 CPU-seconds each).
unset PYTHONDONTWRITEBYTECODE
.venv/bin/python -m compileall -q -j 0 airflow_provider_lambda_ue example_dags demo benchmarks >/dev/null

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== docs"
# The documentation site, warnings as errors: a broken page fails the run like a failing test.
bash scripts/docs.sh
echo "== pytest"
# Parallel workers: the two big groups (the production tier's deployment, the `dags test` runs)
# keep one worker each for most of the run, and much of the rest waits on timeouts, retries and
# servers, so more workers than cores pay off: on 2 cores 5 workers took 487 s and 900 CPU-s, 4
# took 576 s and 985, before the suite's CPU came down to about 800 (LAMBDA_UE_TEST_WORKERS=0
# runs serially). Each worker starts its own session-scoped servers and Airflow homes; loadgroup
# keeps each xdist_group on one worker (the production tier sharing one deployment; a
# compatibility target).
workers="${LAMBDA_UE_TEST_WORKERS:-5}"
parallel=()
[ "$workers" != 0 ] && parallel=(-n "$workers" --dist loadgroup)
started=$(date +%s)
# pytest exits 5 when it collects no test: that is a failure here, as any non-zero exit is.
status=0
.venv/bin/python -m pytest "${parallel[@]}" "$@" || status=$?
echo "== pytest wall time: $(( $(date +%s) - started )) s (exit $status)"
[ "$status" = 0 ] || exit "$status"

# The compatibility tier: the package in a locked environment of every supported Airflow minor
# release (compat/*.txt, built once into .compat-envs/), each its own line of the summary.
# LAMBDA_UE_COMPAT=3.0,3.3 narrows it; tests/compat/envs.py says how the locks are made.
# The environments build only now (mostly installing from uv's cache), not alongside the suite,
# so that the suite's wall time above is its own: on a fresh clone they install and compile for
# minutes (fresh clones took 549 s of pytest beside them at nice 19, 468 and 536 s without them).
echo "== compatibility tier"
started=$(date +%s)
.venv/bin/python -m tests.compat.envs build || { status=$?; echo "compat env build failed (exit $status)"; exit "$status"; }
# One target per worker at a time (its tests share the target's environment and Airflow home).
# Three workers on 2 cores: a target's tests wait on its live Airflow much of the time (the six
# targets took 248 s with 3 workers, 283 s with 2; the CPU was busy 90% and 83% of it).
compat_parallel=()
[ "$workers" != 0 ] && compat_parallel=(-n 3 --dist loadgroup)
.venv/bin/python -m pytest tests/compat "${compat_parallel[@]}" -q -p no:cacheprovider || status=$?
echo "== compatibility tier wall time: $(( $(date +%s) - started )) s (exit $status)"
exit "$status"
