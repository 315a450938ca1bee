"""The production tier's deployment is the shape the deployment page describes, seen from outside.

Each setting is read back from the deployment and its effect observed where it shows: the
metadata database is the PostgreSQL server (its tables hold the tier's runs); tasks went through
Celery (each task instance's executor id is a Celery task whose result is in that database); Redis
holds Celery's queues; the connections in the database are encrypted with the shared Fernet key;
two schedulers and two triggerers are alive, each component its own process.
"""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from airflow_provider_lambda_ue.testing.production_airflow import ProductionAirflow
from tests.production.runs import Runs

pytestmark = pytest.mark.timeout(900)


@pytest.mark.proves(
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
)
def test_postgresql_metadata_database_and_celery_on_redis(runs: Runs) -> None:
    run, state = runs.finished("live_sync")
    assert state == "success"
    airflow: ProductionAirflow = runs.airflow
    assert airflow.env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert airflow.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == airflow.postgres.url()
    assert airflow.env["AIRFLOW__CELERY__RESULT_BACKEND"] == airflow.postgres.url("db+postgresql")
    assert airflow.env["AIRFLOW__CELERY__BROKER_URL"] == airflow.redis.url

    ((version,),) = airflow.sql("SELECT version()")
    assert version.startswith("PostgreSQL "), version
    assert airflow.sql("SELECT state FROM dag_run WHERE run_id = %s", run.run_id) == [("success",)]
    # Every task of the run went through Celery: its executor id is a Celery task, done.
    celery = airflow.sql(
        "SELECT ti.task_id, meta.status FROM task_instance ti "
        "JOIN celery_taskmeta meta ON meta.task_id = ti.external_executor_id WHERE ti.run_id = %s",
        run.run_id,
    )
    assert sorted(celery) == [("exit_code_of", "SUCCESS"), ("invoke", "SUCCESS")], celery
    assert b"_kombu.binding." in airflow.redis.command("KEYS", "_kombu.binding.*")


@pytest.mark.proves("AIRFLOW__CORE__FERNET_KEY")
def test_connections_are_encrypted_with_the_shared_fernet_key(
    production_airflow: ProductionAirflow, aws_secret: str
) -> None:
    airflow = production_airflow
    key = airflow.env["AIRFLOW__CORE__FERNET_KEY"]
    ((stored, encrypted),) = airflow.sql(
        "SELECT password, is_encrypted FROM connection WHERE conn_id = %s", "aws_default"
    )
    assert encrypted is True
    assert aws_secret not in stored
    assert Fernet(key.encode()).decrypt(stored.encode()).decode() == aws_secret


def test_two_schedulers_and_two_triggerers_each_a_process(production_airflow: ProductionAirflow) -> None:
    airflow = production_airflow
    airflow.wait_healthy()
    assert len(airflow.alive_jobs("SchedulerJob")) == 2
    assert len(airflow.alive_jobs("TriggererJob")) == 2
    assert len(airflow.alive_jobs("DagProcessorJob")) == 1
    pids = {name: process.pid for name, process in airflow.processes.items()}
    assert sorted(pids) == sorted(airflow.commands)
    assert len(set(pids.values())) == len(pids)
    assert all(process.exit_code() is None for process in airflow.processes.values())
