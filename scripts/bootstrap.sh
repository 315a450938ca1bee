#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv with the package installed
# editable and the test extra. Sourced by demo.sh and test.sh; safe to run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
# uv resolves Airflow's large dependency tree in seconds where pip takes minutes; pip is the fallback.
if [ ! -x "$VENV/bin/uv" ]; then
    "$VENV/bin/python" -m pip install --quiet uv || true
fi
# Debian packages the tests use as users do, installed where they are missing and apt-get can (as
# root), in one apt-get run; else the tests say what is missing. jq: the README's shell examples,
# run as written. postgresql and redis-server: the production tier's metadata database and Celery
# broker (tests/production), each started by the tests in a folder of their own, never as a
# system service (PostgreSQL's programs are in /usr/lib/postgresql/<version>/bin, off PATH).
missing=()
command -v jq >/dev/null 2>&1 || missing+=(jq)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" != 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } \
        || echo "bootstrap: could not install ${missing[*]} (apt-get install ${missing[*]})" >&2
fi
stamp="$VENV/.installed-$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/bootstrap.sh" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    if [ -x "$VENV/bin/uv" ]; then
        VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install --quiet -e "$ROOT[test]"
    else
        "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]"
    fi
    # Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on these machines) every
    # Airflow subprocess would otherwise compile Airflow from source again, 5-10 s each.
    "$VENV/bin/python" -m compileall -q -j 0 "$VENV/lib" >/dev/null || true
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi
