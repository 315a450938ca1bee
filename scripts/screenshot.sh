#!/usr/bin/env bash
# Regenerate the docs' pictures (docs/task-*.png): a task instance of a live Airflow, its extra links
# and its log, taken with headless Chromium (Debian's chromium: apt-get install -y chromium).
# Arguments go to demo/screenshot.py (--output-dir DIR, --size 1280,800, --chromium PATH).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN HTTP_PROXY HTTPS_PROXY http_proxy https_proxy
exec .venv/bin/python demo/screenshot.py "$@"
