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
# The README's shell examples, which the tests run as written, use jq as users do: the Debian
# package, installed where it is missing and apt-get can (as root); else tests say what is missing.
if ! command -v jq >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq jq >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq jq >/dev/null 2>&1; } \
        || echo "bootstrap: could not install jq (apt-get install jq)" >&2
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
