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
compat_build=""
trap '[ -z "$compat_build" ] || kill "$compat_build" 2>/dev/null || true; rm -rf "$AIRFLOW_HOME"' EXIT
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# No real AWS credentials or proxies from the caller's environment reach the tests.
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN HTTP_PROXY HTTPS_PROXY http_proxy https_proxy
export NO_PROXY="*"
# Bytecode for the project's own modules, written once: with PYTHONDONTWRITEBYTECODE set (as on
# these machines) every test worker, lambda-ue and Airflow process would compile them again, and
# pytest would rewrite and compile every test module in each worker (about 5 CPU-seconds each).
unset PYTHONDONTWRITEBYTECODE
.venv/bin/python -m compileall -q -j 0 airflow_provider_lambda_ue example_dags demo benchmarks >/dev/null

# The compatibility tier's environments (compat/*.txt, built into .compat-envs/; on a fresh clone
# about a minute, mostly compiling bytecode) build in the background while ruff, mypy and the docs
# run, which use one core of two. Done before pytest starts, so that the suite's wall time is its
# own; LAMBDA_UE_COMPAT=3.0,3.3 narrows it (tests/compat/envs.py says how the locks are made).
compat_log="$AIRFLOW_HOME/compat-build.log"
.venv/bin/python -m tests.compat.envs build >"$compat_log" 2>&1 &
compat_build=$!

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== docs"
# The documentation site, warnings as errors: a broken page fails the run like a failing test.
bash scripts/docs.sh
echo "== compatibility environments"
built=0
wait "$compat_build" || built=$?
compat_build=""
cat "$compat_log"
[ "$built" = 0 ] || { echo "compat env build failed (exit $built)"; exit "$built"; }
echo "== set-up, lint, types, docs and the environments: $SECONDS s"
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

# The compatibility tier: the package in the locked environment of every supported Airflow minor
# release built above, each target its own line of the summary.
echo "== compatibility tier"
started=$(date +%s)
# One target per worker at a time (its tests share the target's environment and Airflow home).
# Three workers on 2 cores: a target's tests wait on its live Airflow much of the time (the six
# targets took 248 s with 3 workers, 283 s with 2; the CPU was busy 90% and 83% of it).
compat_parallel=()
[ "$workers" != 0 ] && compat_parallel=(-n 3 --dist loadgroup)
.venv/bin/python -m pytest tests/compat "${compat_parallel[@]}" -q -p no:cacheprovider || status=$?
echo "== compatibility tier wall time: $(( $(date +%s) - started )) s (exit $status)"
echo "== total wall time: $SECONDS s"
exit "$status"
