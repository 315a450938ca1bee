#!/usr/bin/env bash
# The demo on a fresh machine: creates .venv, then runs the synchronous example DAG with
# `airflow dags test` against a local Lambda endpoint and prints the output document from XCom.
# `--live [--port N] [--once]`: a live Airflow (web UI on 127.0.0.1) running the example DAGs, until Ctrl-C.
# `--live --production`: the same on PostgreSQL, the CeleryExecutor with Redis, two schedulers, two
# triggerers and two Celery workers (the shape of a production deployment).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN HTTP_PROXY HTTPS_PROXY http_proxy https_proxy
if [[ "${1:-}" == "--live" ]]; then
    shift
    exec .venv/bin/python demo/live_demo.py "$@"
fi
exec .venv/bin/python demo/run_demo.py
