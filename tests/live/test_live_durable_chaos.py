"""Chaos in a live Airflow against durable executions (issue 14): the README's comparison figures.

Each test counts the function's executions through the durable-executions API
(``ListDurableExecutionsByFunction``) and the handler's real step runs through its count file,
and prints them. The plain-function figures under the same chaos are in test_live_chaos.py:

* worker's task process killed mid-wait, ``retries=1``: plain 2 executions, durable **1** (the
  retry reattaches to the RUNNING execution);
* triggerer killed mid-wait: plain 2, durable **1** (the new triggerer polls, never invokes);
* a FAILED execution, then the retry: **2** executions, each try's document and log naming its own;
* the task marked failed mid-wait (REST API): the execution is **STOPPED** (deferred: by the
  trigger's ``on_kill``; on the worker: by the operator's ``on_kill``).

The last two against a plain function too (``tests/handlers/start_end.py``): a failing function
with ``retries=1`` runs twice; a synchronous invocation whose task is marked failed runs on to its
end (Lambda has no way to stop an invocation).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lambda_ue.testing.live_airflow import LiveAirflow
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support.durable import (
    DurableFunction,
    create_durable_function,
    executions_of,
    wait_for_execution_status,
    wait_for_task_state,
    wait_for_trigger_claimed,
)
from tests.support.local_lambda import HANDLERS_DIR, unique_function_name

pytest.importorskip(
    "aws_durable_execution_sdk_python_testing",
    reason="AWS's durable SDKs need Python >= 3.11 (the test extra installs them there)",
)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def durable(local_lambda: LocalLambda, tmp_path: Path) -> Callable[[str], DurableFunction]:
    def create(handler_stem: str) -> DurableFunction:
        return create_durable_function(local_lambda, tmp_path, handler_stem, execution_timeout=900)

    return create


def executions(local_lambda: LocalLambda, function: DurableFunction) -> list[dict[str, Any]]:
    return executions_of(local_lambda.client("lambda"), function.name)


def _start(live_airflow: LiveAirflow, dag_id: str, function: DurableFunction) -> str:
    live_airflow.wait_for_dag(dag_id)
    run_id = live_airflow.trigger(dag_id, {"function": function.name})
    deadline = time.monotonic() + 180
    while function.count < 1 and time.monotonic() < deadline:  # the execution is running now
        time.sleep(0.2)
    assert function.count == 1
    return run_id


def _report(
    what: str, local_lambda: LocalLambda, function: DurableFunction, state: str
) -> list[dict[str, Any]]:
    listed = executions(local_lambda, function)
    named = ", ".join(f"{item['DurableExecutionName']} {item['Status']}" for item in listed)
    print(
        f"\n{what}: {len(listed)} durable execution(s) ({named}); "
        f"handler step ran {function.count} time(s); run {state}"
    )
    return listed


def test_worker_task_process_killed_mid_wait_with_one_retry(
    live_airflow: LiveAirflow, local_lambda: LocalLambda, durable: Callable[[str], DurableFunction]
) -> None:
    function = durable("durable_step_wait")
    run_id = _start(live_airflow, "live_durable_worker", function)
    ti = wait_for_task_state(live_airflow, "live_durable_worker", run_id, "running")
    assert ti["pid"]

    os.kill(int(ti["pid"]), signal.SIGKILL)

    state = live_airflow.wait_for_run("live_durable_worker", run_id, timeout=300)
    listed = _report("durable, task process killed, retries=1", local_lambda, function, state)
    assert state == "success", live_airflow.task_states("live_durable_worker", run_id)
    assert [item["Status"] for item in listed] == ["SUCCEEDED"]
    assert function.count == 1
    assert live_airflow.task_instance("live_durable_worker", run_id, "invoke")["try_number"] == 2
    document = live_airflow.xcom("live_durable_worker", run_id, "invoke")
    assert document["exit_code"] == 0
    assert document["result"]["durable_execution_arn"] == listed[0]["DurableExecutionArn"]


def test_triggerer_killed_mid_wait(
    live_airflow: LiveAirflow, local_lambda: LocalLambda, durable: Callable[[str], DurableFunction]
) -> None:
    function = durable("durable_step_wait")
    run_id = _start(live_airflow, "live_durable_deferred", function)
    wait_for_task_state(live_airflow, "live_durable_deferred", run_id, "deferred")

    live_airflow.restart_component("triggerer", signal.SIGKILL)

    state = live_airflow.wait_for_run("live_durable_deferred", run_id, timeout=300)
    listed = _report("durable, triggerer killed", local_lambda, function, state)
    assert state == "success", live_airflow.task_states("live_durable_deferred", run_id)
    assert [item["Status"] for item in listed] == ["SUCCEEDED"]
    assert function.count == 1
    assert live_airflow.xcom("live_durable_deferred", run_id, "invoke")["result"][
        "durable_execution_status"
    ] == ("SUCCEEDED")


def test_failed_execution_then_the_retry(
    live_airflow: LiveAirflow, local_lambda: LocalLambda, durable: Callable[[str], DurableFunction]
) -> None:
    function = durable("durable_raise")
    dag_id = "live_durable_failed_retry"
    live_airflow.wait_for_dag(dag_id)
    run_id = live_airflow.trigger(dag_id, {"function": function.name})

    state = live_airflow.wait_for_run(dag_id, run_id, timeout=300)
    listed = _report("durable, FAILED then retry", local_lambda, function, state)
    assert state == "failed"
    assert [item["Status"] for item in listed] == ["FAILED", "FAILED"]
    first, second = listed
    assert second["DurableExecutionName"] == f"{first['DurableExecutionName']}-r2"
    assert function.count == 2
    assert live_airflow.task_instance(dag_id, run_id, "invoke")["try_number"] == 2
    # Each try reports its own execution: in its log, and the last one on XCom.
    assert first["DurableExecutionArn"] in live_airflow.task_log(dag_id, run_id, "invoke", try_number=1)
    assert second["DurableExecutionArn"] in live_airflow.task_log(dag_id, run_id, "invoke", try_number=2)
    document = live_airflow.xcom(dag_id, run_id, "invoke")
    assert document["exit_code"] == 1
    assert document["result"]["durable_execution_arn"] == second["DurableExecutionArn"]
    assert document["result"]["durable_execution_status"] == "FAILED"


@pytest.mark.parametrize(
    ("dag_id", "waiting_state"),
    [("live_durable_mark_failed_deferred", "deferred"), ("live_durable_mark_failed_worker", "running")],
)
def test_task_marked_failed_mid_wait_stops_the_execution(
    live_airflow: LiveAirflow,
    local_lambda: LocalLambda,
    durable: Callable[[str], DurableFunction],
    dag_id: str,
    waiting_state: str,
) -> None:
    function = durable("durable_long_wait")
    run_id = _start(live_airflow, dag_id, function)
    wait_for_task_state(live_airflow, dag_id, run_id, waiting_state)
    if waiting_state == "deferred":
        wait_for_trigger_claimed(live_airflow, dag_id, run_id)

    live_airflow.set_task_state(dag_id, run_id, "invoke", "failed")

    statuses = wait_for_execution_status(local_lambda, function, "STOPPED")
    state = live_airflow.wait_for_run(dag_id, run_id, timeout=120)
    _report(f"durable, marked failed while {waiting_state}", local_lambda, function, state)
    assert statuses == ["STOPPED"]
    assert state == "failed"
    assert function.count == 1


# -- the same chaos against a plain function ------------------------------------------------------


def _plain_function(local_lambda: LocalLambda, tmp_path: Path) -> tuple[str, Path]:
    name = unique_function_name("start-end")
    record = tmp_path / f"{name}.lines"
    source = (HANDLERS_DIR / "start_end.py").read_text(encoding="utf-8")
    local_lambda.create_function(name, source, timeout=60, environment={"COUNT_FILE": str(record)})
    return name, record


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def _wait_for_lines(path: Path, expected: list[str], timeout: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout
    while _lines(path) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return _lines(path)


def test_plain_function_failing_then_the_retry(
    live_airflow: LiveAirflow, local_lambda: LocalLambda, tmp_path: Path
) -> None:
    name, record = _plain_function(local_lambda, tmp_path)
    live_airflow.wait_for_dag("live_plain_failed_retry")
    run_id = live_airflow.trigger("live_plain_failed_retry", {"function": name})
    state = live_airflow.wait_for_run("live_plain_failed_retry", run_id, timeout=300)
    runs = _lines(record).count("start")
    print(f"\nplain, function error then retry: the function ran {runs} time(s); run {state}")
    assert state == "failed"
    assert runs == 2


def test_plain_function_marked_failed_mid_invocation_runs_on(
    live_airflow: LiveAirflow, local_lambda: LocalLambda, tmp_path: Path
) -> None:
    name, record = _plain_function(local_lambda, tmp_path)
    live_airflow.wait_for_dag("live_plain_mark_failed")
    run_id = live_airflow.trigger("live_plain_mark_failed", {"function": name})
    assert _wait_for_lines(record, ["start"]) == ["start"]
    wait_for_task_state(live_airflow, "live_plain_mark_failed", run_id, "running")

    live_airflow.set_task_state("live_plain_mark_failed", run_id, "invoke", "failed")

    state = live_airflow.wait_for_run("live_plain_mark_failed", run_id, timeout=120)
    lines = _wait_for_lines(record, ["start", "end"])
    print(
        f"\nplain, marked failed mid-invocation: the function ran to its end: "
        f"{lines == ['start', 'end']}; run {state}"
    )
    assert state == "failed"
    assert lines == ["start", "end"]
