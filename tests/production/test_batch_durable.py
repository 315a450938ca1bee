"""Durable executions against plain functions in the production deployment: a failing function with
a retry, and a task marked failed while it waits (the README's comparison; the rows where a
component dies are test_when_a_host_dies.py's).

Each test counts the function's executions through the durable-executions API
(``ListDurableExecutionsByFunction``) and the handler's real step runs through its count file, and
prints them:

* a FAILED execution, then the retry: **2** executions, each try's document and log naming its own;
* the task marked failed mid-wait (REST API): the execution is **STOPPED** (deferred: by the
  trigger's ``on_kill`` in whichever triggerer holds it; on a worker: by the operator's ``on_kill``);
* the same against a plain function (``tests/handlers/start_end.py``): a failing function with
  ``retries=1`` runs twice; a synchronous invocation whose task is marked failed runs on to its
  end (Lambda has no way to stop an invocation).
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.production.runs import DURABLE, Run, Runs
from tests.support.durable import (
    DurableFunction,
    executions_of,
    recorded_lines,
    wait_for_execution_status,
    wait_for_lines,
    wait_for_task_state,
    wait_for_trigger_polling,
)

pytestmark = pytest.mark.timeout(900)

durable_only = pytest.mark.skipif(
    not DURABLE, reason="AWS's durable SDKs need Python >= 3.11 (the test extra installs them there)"
)


def _durable(run: Run) -> DurableFunction:
    assert run.durable is not None
    return run.durable


def _report(
    what: str, local_lambda: LocalLambda, function: DurableFunction, state: str
) -> list[dict[str, Any]]:
    listed = executions_of(local_lambda.client("lambda"), function.name)
    named = ", ".join(f"{item['DurableExecutionName']} {item['Status']}" for item in listed)
    print(
        f"\n{what}: {len(listed)} durable execution(s) ({named}); "
        f"handler step ran {function.count} time(s); run {state}"
    )
    return listed


def test_plain_function_marked_failed_mid_invocation_runs_on(runs: Runs) -> None:
    # First: its function runs 45 s from the start of the tier's runs, and must still run here.
    airflow = runs.airflow
    run = runs["live_plain_mark_failed"]
    assert run.record is not None
    assert wait_for_lines(run.record, ["start"]) == ["start"]
    wait_for_task_state(airflow, run.dag_id, run.run_id, "running")

    airflow.set_task_state(run.dag_id, run.run_id, "invoke", "failed")

    state = airflow.wait_for_run(run.dag_id, run.run_id, timeout=120)
    lines = wait_for_lines(run.record, ["start", "end"])
    print(
        f"\nplain, marked failed mid-invocation: the function ran to its end: "
        f"{lines == ['start', 'end']}; run {state}"
    )
    assert state == "failed"
    assert lines == ["start", "end"]


@durable_only
@pytest.mark.parametrize(
    ("dag_id", "waiting_state"),
    [("live_durable_mark_failed_deferred", "deferred"), ("live_durable_mark_failed_worker", "running")],
)
def test_task_marked_failed_mid_wait_stops_the_execution(
    runs: Runs, local_lambda: LocalLambda, dag_id: str, waiting_state: str
) -> None:
    airflow = runs.airflow
    run = runs[dag_id]
    function = _durable(run)
    wait_for_task_state(airflow, dag_id, run.run_id, waiting_state)
    if waiting_state == "deferred":
        wait_for_trigger_polling(airflow, dag_id, run.run_id)

    airflow.set_task_state(dag_id, run.run_id, "invoke", "failed")

    statuses = wait_for_execution_status(local_lambda, function, "STOPPED")
    state = airflow.wait_for_run(dag_id, run.run_id, timeout=120)
    _report(f"durable, marked failed while {waiting_state}", local_lambda, function, state)
    if statuses != ["STOPPED"]:  # what the triggerers said about it, to tell why
        said = [
            line
            for name in airflow.components("triggerer")
            for line in airflow.component_log(name).splitlines()
            if dag_id in line or "on_kill" in line
        ]
        pytest.fail(
            f"{statuses}\n" + "\n".join(said[-40:]) + airflow.task_log(dag_id, run.run_id, "invoke")[-3000:]
        )
    assert state == "failed"
    assert function.count == 1


@durable_only
def test_failed_execution_then_the_retry(runs: Runs, local_lambda: LocalLambda) -> None:
    airflow = runs.airflow
    run, state = runs.finished("live_durable_failed_retry")
    function = _durable(run)

    listed = _report("durable, FAILED then retry", local_lambda, function, state)
    assert state == "failed"
    assert [item["Status"] for item in listed] == ["FAILED", "FAILED"]
    first, second = listed
    assert second["DurableExecutionName"] == f"{first['DurableExecutionName']}-r2"
    assert function.count == 2
    assert airflow.task_instance(run.dag_id, run.run_id, "invoke")["try_number"] == 2
    # Each try reports its own execution: in its log, and the last one on XCom.
    assert first["DurableExecutionArn"] in airflow.task_log(run.dag_id, run.run_id, "invoke", try_number=1)
    assert second["DurableExecutionArn"] in airflow.task_log(run.dag_id, run.run_id, "invoke", try_number=2)
    document = airflow.xcom(run.dag_id, run.run_id, "invoke")
    assert document["exit_code"] == 1
    assert document["result"]["durable_execution_arn"] == second["DurableExecutionArn"]
    assert document["result"]["durable_execution_status"] == "FAILED"


def test_plain_function_failing_then_the_retry(runs: Runs) -> None:
    run, state = runs.finished("live_plain_failed_retry")
    assert run.record is not None
    executions = recorded_lines(run.record).count("start")
    print(f"\nplain, function error then retry: the function ran {executions} time(s); run {state}")
    assert state == "failed"
    assert executions == 2
