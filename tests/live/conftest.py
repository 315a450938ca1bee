"""The live Airflow of the live tier: started once per worker, shared by the live tests it runs.

api-server, scheduler, dag-processor and triggerer run as separate processes (LocalExecutor,
SQLite, loopback) with ``tests/live/dags`` as the DAG folder and the session's local Lambda
endpoint as ``LAMBDA_UE_ENDPOINT_URL``; ``aws_default`` holds the endpoint's dummy keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_lambda_ue.testing.live_airflow import LiveAirflow
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda

REPO = Path(__file__).resolve().parents[2]
LIVE_DAGS = Path(__file__).resolve().parent / "dags"


# Package-scoped: stopped as soon as the worker's last live test has run, not at the end of the
# session (an idle Airflow still burns CPU, about 4 CPU-seconds a minute, while the worker goes on
# with the rest of the suite). Under ``--dist loadgroup`` a group's tests run one after another.
@pytest.fixture(scope="package")
def live_airflow(
    local_lambda: LocalLambda, tmp_path_factory: pytest.TempPathFactory, migrated_database: Path
) -> Iterator[LiveAirflow]:
    """A running Airflow (two worker slots) whose DAGs call the local endpoint; ends with the live tests."""
    env = {
        "LAMBDA_UE_ENDPOINT_URL": local_lambda.url,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "login": "testing", "password": "testing"}
        ),
        # A killed triggerer's triggers go to the next one once its heartbeat is this old: 10 s
        # (heartbeats every 2 s) instead of 30 s (every 5 s) brings the chaos tests' restarts
        # closer to the kill; both are settings a deployment may choose.
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
    }
    with LiveAirflow(
        tmp_path_factory.mktemp("live_airflow_home"),
        LIVE_DAGS,
        env=env,
        parallelism=2,
        pythonpath=REPO,
        database=migrated_database,
    ) as airflow:
        yield airflow
