"""The live demo: a real Airflow on 127.0.0.1 running the example DAGs against a local Lambda endpoint,
with the web UI, until Ctrl-C.

Started by ``bash scripts/demo.sh --live``: api-server, scheduler, dag-processor and triggerer, each
its own process, in a temporary AIRFLOW_HOME (SQLite, LocalExecutor), the shape of
``airflow standalone``. With ``--production`` the shape platform teams run: a PostgreSQL metadata
database and a Redis broker of its own, the CeleryExecutor, two schedulers, two triggerers, two
Celery workers, a dag-processor and the api-server, the connection ``aws_default`` in the database.
Everything stops on Ctrl-C (or SIGTERM). The example DAGs that need only the endpoint are
triggered once, so their runs, logs and XCom documents are in the UI at once; the proxy examples
are listed (they need a proxy this demo does not start).

Options: ``--port N`` (web UI / API port, default 8080, 0 for a free one), ``--production``,
``--once`` (trigger, wait for the runs, print their states and stop: a headless check).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from airflow_provider_lambda_ue.testing.deployment import AirflowDeployment
from airflow_provider_lambda_ue.testing.live_airflow import LiveAirflow, LiveAirflowError
from airflow_provider_lambda_ue.testing.local_lambda import (
    DUMMY_ACCESS_KEY_ID,
    DUMMY_SECRET_ACCESS_KEY,
    LocalLambda,
)
from airflow_provider_lambda_ue.testing.production_airflow import ProductionAirflow

REPO = Path(__file__).resolve().parents[1]
FUNCTION = "lambda-ue-demo"
#: Example DAGs that run against the local endpoint alone.
TRIGGERED = (
    "example_lambda_sync_tail",
    "example_lambda_sync_env_region",
    "example_lambda_fan_out",
    "example_lambda_xcom_downstream",
)
#: Example DAGs that need a proxy (and a role): shown in the UI, not triggered.
NOT_TRIGGERED = ("example_lambda_async_role_proxy", "example_lambda_sync_proxy_credentials")
#: ``aws_default`` for the DAGs that name it (the environment's keys for the one that does not).
AWS_DEFAULT = {"conn_type": "aws", "login": DUMMY_ACCESS_KEY_ID, "password": DUMMY_SECRET_ACCESS_KEY}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _deployment(home: Path, server: LocalLambda, port: int, production: bool) -> AirflowDeployment:
    """The Airflow to start: LocalExecutor and SQLite, or the production shape."""
    env = {
        "LAMBDA_UE_ENDPOINT_URL": server.url,
        "LAMBDA_UE_FUNCTION": FUNCTION,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    if production:
        _say("starting PostgreSQL, Redis, the api-server, a dag-processor, two schedulers, two triggerers")
        _say("and two Celery workers (about a minute) ...")
        return ProductionAirflow(home, REPO / "example_dags", env=env, pythonpath=REPO, port=port)
    _say("starting api-server, scheduler, dag-processor and triggerer (about 40 s) ...")
    env["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(AWS_DEFAULT)
    return LiveAirflow(home, REPO / "example_dags", env=env, pythonpath=REPO, port=port)


def _describe(airflow: AirflowDeployment, home: Path) -> None:
    _say("")
    _say(f"Airflow web UI: {airflow.url}/")
    _say("  no login needed: every visitor is an admin (simple auth manager, local demo only)")
    _say(f"  REST API token: curl {airflow.url}/auth/token")
    if isinstance(airflow, ProductionAirflow):
        _say(f"  components: {', '.join(airflow.processes)}")
        _say(f"  metadata database: {airflow.postgres.url()}; Celery broker: {airflow.redis.url}")
        _say("  connection aws_default: in the database (Admin > Connections)")
    _say(f"  triggered: {', '.join(TRIGGERED)}")
    _say(f"  not triggered (they need a proxy): {', '.join(NOT_TRIGGERED)}")
    _say(f"  logs of each component: {home / 'logs'}")


def _run(airflow: AirflowDeployment, home: Path, once: bool, stop: threading.Event) -> int:
    """Trigger the example DAGs, say where everything is, print the runs' states; wait for Ctrl-C."""
    if isinstance(airflow, ProductionAirflow):
        airflow.set_connection("aws_default", **AWS_DEFAULT)
    runs = {}
    for dag_id in TRIGGERED:
        airflow.wait_for_dag(dag_id)
        runs[dag_id] = airflow.trigger(dag_id)
    _describe(airflow, home)
    _say("Ctrl-C stops everything." if not once else "")
    states = {dag_id: airflow.wait_for_run(dag_id, run_id) for dag_id, run_id in runs.items()}
    for dag_id, state in states.items():
        print(f"{dag_id} {runs[dag_id]}: {state}", flush=True)
    if once:
        return 0 if all(state == "success" for state in states.values()) else 1
    stop.wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the live demo; return the process exit code."""
    parser = argparse.ArgumentParser(prog="demo.sh --live", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="web UI / API port (0: a free one)")
    parser.add_argument(
        "--production",
        action="store_true",
        help="PostgreSQL, Celery on Redis, two schedulers, two triggerers, two workers",
    )
    parser.add_argument("--once", action="store_true", help="trigger, wait for the runs, print them, stop")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Ctrl-C (SIGINT) and SIGTERM both end the wait in _run; the with-blocks then stop everything.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with LocalLambda() as server, tempfile.TemporaryDirectory(prefix="lambda-ue-live-demo-") as folder:
        server.create_function(
            FUNCTION,
            REPO / "demo" / "functions" / "lambda_ue_demo.py",
            handler="lambda_ue_demo.handler",
            timeout=30,
        )
        _say(f"local Lambda endpoint {server.url}, function {FUNCTION}")
        home = Path(folder)
        try:
            with _deployment(home, server, args.port, args.production) as airflow:
                return _run(airflow, home, args.once, stop)
        except LiveAirflowError as exc:
            _say(str(exc))
            return 1
        finally:
            _say("stopping Airflow and the local endpoint ...")


if __name__ == "__main__":
    sys.exit(main())
