"""The live Airflow of the live tier: started once per session, shared by every test in tests/live.

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


#: The live tier's two xdist groups, each on one worker with a live Airflow of its own. One group
#: would be the suite's critical path (its tests take about 15 minutes together, mostly waiting);
#: two cost one more Airflow start (about 40 s) and halve it. Modules not named here: "live-2".
_GROUPS = {"test_live_race.py": "live-1", "test_live_dags.py": "live-1"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Pin each live module to its group's worker: a worker per module would start an Airflow each."""
    for item in items:
        path = Path(str(item.fspath))
        if path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.xdist_group(_GROUPS.get(path.name, "live-2")))


@pytest.fixture(scope="session")
def live_airflow(
    local_lambda: LocalLambda, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveAirflow]:
    """A running Airflow (two worker slots) whose DAGs call the local endpoint; stopped after the session."""
    env = {
        "LAMBDA_UE_ENDPOINT_URL": local_lambda.url,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "login": "testing", "password": "testing"}
        ),
    }
    with LiveAirflow(
        tmp_path_factory.mktemp("live_airflow_home"), LIVE_DAGS, env=env, parallelism=2, pythonpath=REPO
    ) as airflow:
        yield airflow
