"""A triggerer stalls while it holds a durable wait: the other takes the trigger over, and the
execution goes on when the first one comes back.

A triggerer whose heartbeat is older than ``[triggerer] triggerer_health_check_threshold`` loses
its triggers to another triggerer, alive or not: a host that froze, a VM paused, a loop held up
by a slow request on a busy machine (the deployment page's 10 s threshold lost triggers so). When
it comes back, it cancels its copy, and Airflow 3.3.2 calls that copy's ``on_kill`` as it would
for a user's action (apache/airflow#73454). Stopping the execution then would fail a task nobody
acted on: the trigger stops it only when the task has left the DEFERRED state.

The test stalls ``triggerer-1`` (SIGSTOP to its process group) past the threshold while it holds
the wait, resumes it (SIGCONT) once ``triggerer-2`` holds the trigger, and checks that the first
one's ``on_kill`` left the execution RUNNING; then marks the task failed, which ``triggerer-2``'s
``on_kill`` turns into a STOPPED execution. It runs before the module that kills a host
(tests/conftest.py orders the production modules by name).
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from airflow_provider_lambda_ue.testing.production_airflow import ProductionAirflow
from tests.production.conftest import TRIGGERER_HEALTH_CHECK_THRESHOLD
from tests.production.runs import DURABLE, Runs, alive_jobs, trigger_holder, wait_for
from tests.support.durable import (
    create_durable_function,
    executions_of,
    wait_for_execution_status,
    wait_for_task_state,
    wait_for_trigger_polling,
)

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        not DURABLE, reason="AWS's durable SDKs need Python >= 3.11 (the test extra has them)"
    ),
]

DAG_ID = "live_durable_mark_failed_deferred"
STALLS, TAKES_OVER = "triggerer-1", "triggerer-2"


def test_a_stalled_triggerer_coming_back_leaves_the_execution_to_the_other(
    production_airflow: ProductionAirflow, local_lambda: LocalLambda, tmp_path: Path
) -> None:
    airflow = production_airflow
    # The wait must be held by the triggerer that stalls: the other one is away while it defers.
    airflow.stop_component(TAKES_OVER)
    (stalls,) = alive_jobs(airflow, "TriggererJob", 1)
    function = create_durable_function(local_lambda, tmp_path, "durable_long_wait", execution_timeout=900)
    runs = Runs(airflow)
    runs.start(DAG_ID, function.name, durable=function)
    run = runs[DAG_ID]
    try:
        wait_for_task_state(airflow, DAG_ID, run.run_id, "deferred")
        wait_for_trigger_polling(airflow, DAG_ID, run.run_id)
        assert trigger_holder(airflow, run) == stalls
    finally:
        airflow.start_component(TAKES_OVER)
    (takes_over,) = set(alive_jobs(airflow, "TriggererJob", 2)) - {stalls}

    airflow.signal_component(STALLS, signal.SIGSTOP)
    try:
        wait_for(
            f"{TAKES_OVER} holds the trigger",
            lambda: trigger_holder(airflow, run) == takes_over,
            timeout=TRIGGERER_HEALTH_CHECK_THRESHOLD + 120,
        )
    finally:
        airflow.signal_component(STALLS, signal.SIGCONT)

    # Back, the stalled triggerer cancels its copy as if a user had acted, and calls its on_kill,
    # whose lines go to the task's log.
    def task_log() -> str:
        return airflow.task_log(DAG_ID, run.run_id, "invoke")

    wait_for(
        f"{STALLS}'s copy of the trigger decides on_kill",
        lambda: bool(re.search("still deferred|Task killed", task_log())),
    )
    log = task_log()
    assert "Trigger cancelled by user action, invoking on_kill" in log
    assert "Task killed" not in log
    statuses = [item["Status"] for item in executions_of(local_lambda.client("lambda"), function.name)]
    state = airflow.task_instance(DAG_ID, run.run_id, "invoke")["state"]
    print(
        f"\ndurable, its triggerer stalled and came back: execution {statuses}, task {state}, "
        f"trigger held by {TAKES_OVER}"
    )
    assert statuses == ["RUNNING"]
    assert state == "deferred"
    assert trigger_holder(airflow, run) == takes_over

    # The user's action still stops it, through the triggerer that holds the wait now.
    airflow.set_task_state(DAG_ID, run.run_id, "invoke", "failed")
    assert wait_for_execution_status(local_lambda, function, "STOPPED") == ["STOPPED"]
    assert airflow.wait_for_run(DAG_ID, run.run_id, timeout=120) == "failed"
    assert function.count == 1
