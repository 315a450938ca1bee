"""The ``airflow dags test`` fork server (testing/dag_test_server.py) in the shared test home.

Every other e2e test runs its DAGs through it; these pin what they rely on without saying so: a
run that overstays its timeout is killed with what it spawned, as ``subprocess.run`` would, and the
server goes on serving; a run that changes an Airflow setting runs as a process of its own.
"""

from __future__ import annotations

import subprocess

import pytest

from airflow_provider_lambda_ue.testing.dag_runner import AirflowEnv
from tests.support.fault_lab import assert_no_new_children, children


def test_a_run_past_its_timeout_is_killed_and_the_server_serves_on(test_dags_env: AirflowEnv) -> None:
    before = children()
    forked = test_dags_env.forked_runs
    assert forked is not None
    with pytest.raises(subprocess.TimeoutExpired):
        test_dags_env.dags_test("lambda_ue_operator_checks", timeout=0.5)
    assert_no_new_children(before)

    result = test_dags_env.dags_test("no_such_dag", timeout=120)

    assert test_dags_env.forked_runs == forked + 2
    assert result.returncode != 0
    assert "no_such_dag" in result.output
    assert result.run_id is None


def test_a_changed_airflow_setting_runs_in_a_process_of_its_own(test_dags_env: AirflowEnv) -> None:
    forked = test_dags_env.forked_runs

    result = test_dags_env.dags_test(
        "lambda_ue_operator_checks", {"AIRFLOW__CORE__DAGS_FOLDER": "/nonexistent"}, timeout=120
    )

    # The setting took effect (no DAG in that folder), in a process the server did not fork.
    assert result.returncode != 0 and "lambda_ue_operator_checks" in result.output
    assert test_dags_env.forked_runs == forked
