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
