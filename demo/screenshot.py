"""Regenerate the docs' pictures of a task instance in a live Airflow (:data:`PICTURES`).

Run by ``bash scripts/screenshot.sh`` (``--output-dir DIR``, ``--size 1280,800``, ``--chromium PATH``).
Starts the local Lambda endpoint and a live Airflow on 127.0.0.1 (as ``demo.sh --live`` does), runs
``example_lambda_sync_tail`` once, checks through the REST API that the task's two links are the
console URLs, and photographs the task instance's pages (its Details tab, which lists the links,
and its log) with headless Chromium (Debian's ``chromium``: ``apt-get install -y chromium``).
Everything it starts is stopped before it returns.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from airflow_provider_lambda_ue.testing.live_airflow import LiveAirflow
from airflow_provider_lambda_ue.testing.local_lambda import (
    DUMMY_ACCESS_KEY_ID,
    DUMMY_SECRET_ACCESS_KEY,
    LocalLambda,
)

REPO = Path(__file__).resolve().parents[1]
FUNCTION = "lambda-ue-demo"
DAG_ID = "example_lambda_sync_tail"
TASK_ID = "invoke_sync_with_log"
#: Headless, and nothing that reaches for the network on its own (this may be a closed machine).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
#: docs/<file> -> the task instance page it shows (the tab after ``tasks/<task>``).
PICTURES = {
    "task-links.png": "/details",  # the Details tab lists the extra links
    "task-log.png": "",  # the log: the decoded log tail, Lambda's answer
}
#: Virtual milliseconds Chromium lets the page run (log in, load the React UI, fetch the links).
RENDER_BUDGET_MS = 30_000


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def find_chromium(given: str | None = None) -> str:
    """The Chromium program: ``given``, else ``chromium`` or ``chromium-browser`` on PATH."""
    for candidate in (given, "chromium", "chromium-browser", "google-chrome"):
        path = candidate and shutil.which(candidate)
        if path:
            return path
    raise SystemExit("no Chromium found: apt-get install -y chromium (or --chromium PATH)")


def screenshot(chromium: str, url: str, output: Path, size: tuple[int, int]) -> None:
    """
    Photograph ``url`` with headless Chromium into ``output`` (PNG, ``size`` pixels).

    A fresh, empty profile each time; ``--virtual-time-budget`` lets the page's scripts run (the
    simple auth manager's login redirect, the UI's API calls) before the picture is taken.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lambda-ue-chromium-") as profile:
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                f"--virtual-time-budget={RENDER_BUDGET_MS}",
                f"--screenshot={output}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Start everything, run the DAG, take the screenshot, stop everything; return the exit code."""
    parser = argparse.ArgumentParser(prog="screenshot.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", type=Path, default=REPO / "docs", help="where the pictures go")
    parser.add_argument("--size", default="1280,800", help="width,height in pixels")
    parser.add_argument("--chromium", help="the Chromium program (default: chromium on PATH)")
    args = parser.parse_args(argv)
    width, height = (int(part) for part in args.size.split(","))
    chromium = find_chromium(args.chromium)

    with LocalLambda() as server, tempfile.TemporaryDirectory(prefix="lambda-ue-screenshot-") as home:
        server.create_function(
            FUNCTION,
            REPO / "demo" / "functions" / "lambda_ue_demo.py",
            handler="lambda_ue_demo.handler",
            timeout=30,
        )
        env = {
            "LAMBDA_UE_ENDPOINT_URL": server.url,
            "LAMBDA_UE_FUNCTION": FUNCTION,
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {"conn_type": "aws", "login": DUMMY_ACCESS_KEY_ID, "password": DUMMY_SECRET_ACCESS_KEY}
            ),
        }
        _say("starting a live Airflow (about 40 s) ...")
        with LiveAirflow(Path(home), REPO / "example_dags", env=env, pythonpath=REPO) as airflow:
            run_id, state = airflow.run_dag(DAG_ID)
            if state != "success":
                _say(f"{DAG_ID} {run_id}: {state}")
                return 1
            links = airflow.extra_links(DAG_ID, run_id, TASK_ID)
            _say(f"links of {TASK_ID}: {json.dumps(links, indent=2)}")
            if not all(url and url.startswith("https://console.aws.amazon.com/") for url in links.values()):
                _say("the task's links are not console URLs")
                return 1
            run = urllib.parse.quote(run_id, safe="")
            for name, tab in PICTURES.items():
                page = f"{airflow.url}/dags/{DAG_ID}/runs/{run}/tasks/{TASK_ID}{tab}"
                output = args.output_dir / name
                _say(f"photographing {page}")
                screenshot(chromium, page, output, (width, height))
                _say(f"wrote {output} ({output.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
