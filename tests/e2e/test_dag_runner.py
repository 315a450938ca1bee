"""The ``airflow dags test`` fork server (testing/dag_test_server.py) in the shared test home.

Every other e2e test runs its DAGs through it; these pin what they rely on without saying so: a
run that overstays its timeout is killed with what it spawned, as ``subprocess.run`` would, and the
server goes on serving; a run that changes an Airflow setting runs as a process of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys

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


_SERVE_WITH_A_FAILING_RUN = """
import io, os, sys
from airflow_provider_lambda_ue.testing import dag_test_server

def fail(request, channel):
    os.close(channel)
    raise RuntimeError("the run broke before airflow's main()")

dag_test_server._become_run = fail
requests = io.StringIO('{"id": 0}\\n{"id": 1}\\n')
dag_test_server.serve(requests, os.dup(1))
"""


def test_a_run_that_raises_ends_its_child_and_the_server_serves_on() -> None:
    """A child whose run raises must not fall back into the server's loop (a second server)."""
    completed = subprocess.run(
        [sys.executable, "-c", _SERVE_WITH_A_FAILING_RUN],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    answers = [json.loads(line) for line in completed.stdout.splitlines()]
    pids = [answer["pid"] for answer in answers if "pid" in answer]
    assert [answer["id"] for answer in answers] == [0, 0, 1, 1], completed.stdout
    assert [answer.get("returncode") for answer in answers if "returncode" in answer] == [1, 1]
    assert len(set(pids)) == 2
    assert completed.stderr.count("RuntimeError: the run broke") == 2
