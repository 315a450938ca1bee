"""The live Airflow of the live tier: the shape of ``airflow standalone``, for the race test.

api-server, scheduler, dag-processor and triggerer run as separate processes (LocalExecutor,
SQLite, loopback, two worker slots) with ``tests/live/dags`` as the DAG folder and the session's
local Lambda endpoint as ``LAMBDA_UE_ENDPOINT_URL``; ``aws_default`` holds the endpoint's dummy
keys. Everything else that needs a live Airflow runs in the production tier (tests/production).
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
    """A running Airflow (two worker slots) whose DAGs call the local endpoint; ends with the live test."""
    env = {
        "LAMBDA_UE_ENDPOINT_URL": local_lambda.url,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "login": "testing", "password": "testing"}
        ),
        # Airflow's default heartbeat interval, as in the deployment where the race showed: a
        # supervisor then reports a run's exit up to 5 s late, the window in which a fired
        # trigger's task is queued again (LiveAirflow's 1 s would narrow it).
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "5",
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
