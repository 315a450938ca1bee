"""``bash scripts/demo.sh --live --production --once``: the live demo in the shape of a production deployment.

It must bring up PostgreSQL, Redis and every Airflow component (two schedulers, two triggerers, two
Celery workers), serve the web UI, run the triggered example DAGs to success with the connection
in the database, and stop every process it started: none of its descendants is left, and nothing
listens any more on the ports it announced.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.support.proxies import tcp_listeners
from tests.support.servers import accepts_connections

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = (
    "api-server, dag-processor, scheduler-1, scheduler-2, triggerer-1, triggerer-2, worker-1, worker-2"
)
#: The line that names the database's and the broker's ports.
SERVICES = re.compile(r"metadata database: \S+@127\.0\.0\.1:(\d+)/\S+; Celery broker: \S+:(\d+)/")

pytestmark = pytest.mark.timeout(600)


@pytest.mark.proves("--live", "--production", "--port", "--once")
def test_production_demo_runs_the_examples_and_stops_everything() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "LAMBDA_UE_"))}
    process = subprocess.Popen(
        ["bash", "scripts/demo.sh", "--live", "--production", "--port", "0", "--once"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    started: set[psutil.Process] = set()
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 480
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Airflow web UI:" in line:
                # Everything is up: note every process it started, to check they are all gone.
                started.update(psutil.Process(process.pid).children(recursive=True))
                url = line.split("Airflow web UI:", 1)[1].strip()
                with urllib.request.urlopen(url, timeout=30) as answer:
                    assert answer.status == 200
                    assert "<title>Airflow" in answer.read().decode()
        output = "".join(lines)
        assert process.wait(60) == 0, output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
    assert f"components: {COMPONENTS}" in output
    assert "connection aws_default: in the database" in output
    states = dict(re.findall(r"^(example_lambda_\w+) \S+: (\w+)$", output, re.MULTILINE))
    assert states == dict.fromkeys(
        (
            "example_lambda_sync_tail",
            "example_lambda_sync_env_region",
            "example_lambda_fan_out",
            "example_lambda_xcom_downstream",
        ),
        "success",
    ), output
    assert "stopping Airflow and the local endpoint" in output
    assert len(started) >= 10, started  # the endpoint, PostgreSQL, Redis and eight components at least
    left = [proc for proc in started if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE]
    assert left == [], left
    services = SERVICES.search(output)
    assert services is not None, output
    for port in (int(services.group(1)), int(services.group(2))):
        assert not tcp_listeners(port) and not accepts_connections(f"tcp://127.0.0.1:{port}"), port
