"""The production tier's deployment: started once, shared by every production test, stopped after them.

PostgreSQL, Redis, api-server, dag-processor, two schedulers, two triggerers and two Celery workers
(:class:`~airflow_provider_lambda_ue.testing.production_airflow.ProductionAirflow`), each its own
process on loopback, with ``tests/production/dags`` as the DAG folder and the session's local
Lambda endpoint as ``LAMBDA_UE_ENDPOINT_URL``. The connection ``aws_default`` lives in the metadata
database (encrypted with the deployment's Fernet key), created through the REST API as an
administrator would: workers and triggerers read it through the Execution API. Its secret key is
:data:`AWS_SECRET`, which no output may show; its extra names the STS endpoint
(``service_config.sts.endpoint_url``) that a role is assumed at.

The settings below are ones a deployment may choose; each is set for what a test observes:

* ``[scheduler] task_instance_heartbeat_timeout`` 30 s (300 s by default): how long a task whose
  worker died stays "running" before the scheduler fails it and the retry starts, and
  ``[scheduler] orphaned_tasks_check_interval`` 20 s (300 s by default): how often a scheduler
  adopts the tasks of a dead one, which it alone may fail so (test_when_a_host_dies.py measures both);
* ``[triggerer] triggerer_health_check_threshold`` 30 s, Airflow's default, set for the test
  that measures how soon a dead triggerer's triggers go to the other one
  (test_when_a_host_dies.py). 10 s (heartbeats every 2 s) was too short for this busy 2-core
  machine: a triggerer whose loop a slow request held that long lost its triggers to the other.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from airflow_provider_lambda_ue.testing.production_airflow import ProductionAirflow
from tests.production.runs import Runs, start_runs
from tests.support.local_lambda import create_counting_function

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "tests" / "production" / "dags"
#: The secret key of the connection ``aws_default``: no log, XCom, rendered field or trigger shows it.
AWS_SECRET = f"sEcReT-production-{uuid.uuid4().hex}"
#: Seconds; see the module's docstring (the tests read them back from the deployment's settings).
TASK_HEARTBEAT_TIMEOUT = 30
ORPHANED_TASKS_CHECK_INTERVAL = 20
TRIGGERER_HEALTH_CHECK_THRESHOLD = 30


# Package-scoped: stopped as soon as the worker's last production test has run (an idle deployment
# still burns about 6 CPU-seconds a minute). All of them run on one xdist worker (tests/conftest.py).
@pytest.fixture(scope="package")
def production_airflow(
    local_lambda: LocalLambda, ca_bundle: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProductionAirflow]:
    """The running deployment, its DAGs calling the local endpoint; ends with the production tests."""
    env = {
        "LAMBDA_UE_ENDPOINT_URL": local_lambda.url,
        "LAMBDA_UE_PROXY_CA_BUNDLE": ca_bundle,
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_HEARTBEAT_TIMEOUT),
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": str(ORPHANED_TASKS_CHECK_INTERVAL),
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_CHECK_THRESHOLD),
    }
    home = tmp_path_factory.mktemp("production_airflow_home")
    with ProductionAirflow(home, DAGS, env=env, pythonpath=REPO) as airflow:
        # STS at the local endpoint too, as a deployment names a regional or VPC endpoint.
        sts = {"service_config": {"sts": {"endpoint_url": local_lambda.url}}}
        airflow.set_connection(
            "aws_default", conn_type="aws", login="testing", password=AWS_SECRET, extra=json.dumps(sts)
        )
        _warm_triggerers(airflow, local_lambda, tmp_path_factory.mktemp("warm_up"))
        yield airflow


@pytest.fixture(scope="package")
def aws_secret() -> str:
    """The secret key of the connection ``aws_default`` in the deployment's database."""
    return AWS_SECRET


@pytest.fixture(scope="package")
def runs(
    production_airflow: ProductionAirflow, local_lambda: LocalLambda, tmp_path_factory: pytest.TempPathFactory
) -> Runs:
    """Every run that needs no component to die, triggered at once (tests/production/runs.py)."""
    return start_runs(production_airflow, local_lambda, tmp_path_factory.mktemp("production_functions"))


def _warm_triggerers(airflow: ProductionAirflow, local_lambda: LocalLambda, directory: Path) -> None:
    """
    Run quick deferred invocations until each triggerer has run one, before any test.

    A triggerer serves its triggers' first Task SDK request by building its in-process Execution
    API (several CPU-seconds). On this 2-core machine, busy with the rest of the suite, that held
    a triggerer's loop for 30-40 s in the middle of a test: its heartbeat went stale and the other
    triggerer took its triggers over. A deployment's triggerers pay it in their first minutes too.
    Runs started a second apart land on either triggerer; the trigger logs say which ran them.
    """
    function = create_counting_function(local_lambda, directory)
    triggerers = {job["id"] for job in airflow.alive_jobs("TriggererJob")}
    airflow.wait_for_dag("prod_warm_up")
    logs = airflow.home / "logs" / "dag_id=prod_warm_up"
    warmed: set[int] = set()
    for _ in range(4):
        started = []
        for _ in range(3):
            started.append(airflow.trigger("prod_warm_up", {"function": function.name}))
            time.sleep(1)
        for run_id in started:
            assert airflow.wait_for_run("prod_warm_up", run_id) == "success"
        warmed = {int(path.name.split(".")[-2]) for path in logs.rglob("*.log.trigger.*.log")}
        if triggerers <= warmed:
            return
    raise AssertionError(f"triggerers {sorted(triggerers)}, warmed {sorted(warmed)}")
