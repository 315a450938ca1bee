"""End to end in a live Airflow: scheduler, LocalExecutor workers, triggerer and API server as processes.

What ``airflow dags test`` (one process) cannot show: a deferred invocation really waits in the
triggerer and resumes on a worker; the document reaches XCom through the execution API; a
downstream ``all_done`` task reads a failure's document; a read timeout sends Invoke once.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from airflow_provider_lambda_ue.testing.live_airflow import LiveAirflow
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support.document_shape import DOCUMENT_KEYS
from tests.support.local_lambda import RAISE_HANDLER, CountingFunction, unique_function_name


def _run(live_airflow: LiveAirflow, dag_id: str, function: str) -> tuple[str, str]:
    return live_airflow.run_dag(dag_id, {"function": function})


def test_synchronous_invocation_runs_once_and_lands_in_xcom(
    live_airflow: LiveAirflow, counting_function_factory: Callable[..., CountingFunction]
) -> None:
    function = counting_function_factory()
    run_id, state = _run(live_airflow, "live_sync", function.name)

    assert state == "success", live_airflow.task_states("live_sync", run_id)
    document = live_airflow.xcom("live_sync", run_id, "invoke")
    assert set(document) == set(DOCUMENT_KEYS)
    assert document["exit_code"] == 0
    assert json.loads(document["result"]["payload"])["event"] == {"run_id": run_id}
    assert live_airflow.xcom("live_sync", run_id, "exit_code_of") == 0
    assert function.count() == 1


def test_deferrable_invocation_runs_in_the_triggerer_and_finishes_on_a_worker(
    live_airflow: LiveAirflow, counting_function_factory: Callable[..., CountingFunction]
) -> None:
    function = counting_function_factory(sleep_seconds=2)
    run_id, state = _run(live_airflow, "live_deferrable", function.name)

    assert state == "success", live_airflow.task_states("live_deferrable", run_id)
    document = live_airflow.xcom("live_deferrable", run_id, "invoke")
    assert document["exit_code"] == 0
    answer = json.loads(document["result"]["payload"])
    # The task started in the triggerer: the payload's template was rendered there.
    assert answer["event"] == {"run_id": run_id}
    assert function.count() == 1
    # One worker run only, after the trigger: no deferral from a worker ...
    log = live_airflow.task_log("live_deferrable", run_id, "invoke")
    assert "Deferring the invocation" not in log
    # ... the trigger's lines, then the worker's decoded log tail, in the task's log.
    assert f"Invoking {function.name}" in log
    assert f"START RequestId: {answer['request_id']}" in log


def test_bad_input_found_at_run_time_is_exit_20_with_the_document(
    live_airflow: LiveAirflow, counting_function_factory: Callable[..., CountingFunction]
) -> None:
    function = counting_function_factory()
    run_id, state = _run(live_airflow, "live_bad_input", function.name)

    assert state == "success"  # the run's leaf, the all_done reader, succeeded
    assert live_airflow.task_states("live_bad_input", run_id) == {
        ("invoke", -1): "failed",
        ("exit_code_of", -1): "success",
    }
    document = live_airflow.xcom("live_bad_input", run_id, "invoke")
    assert document["exit_code"] == 20
    assert "qualifier" in document["status_description"]
    assert "wait_for_completion_timeout" in document["status_description"]
    assert live_airflow.xcom("live_bad_input", run_id, "exit_code_of") == 20
    assert function.count() == 0


def test_mapped_invocations_each_push_their_document(
    live_airflow: LiveAirflow, counting_function_factory: Callable[..., CountingFunction]
) -> None:
    function = counting_function_factory()
    run_id, state = _run(live_airflow, "live_mapped", function.name)

    assert state == "success", (
        live_airflow.task_states("live_mapped", run_id),
        live_airflow.log_lines("scheduler", "state attribute is"),
    )
    assert live_airflow.xcom("live_mapped", run_id, "collect") == [{"item": n} for n in range(4)]
    assert function.count() == 4
    # Deferred from a worker, ended by the trigger: the trigger's log holds the whole outcome.
    log = live_airflow.task_log("live_mapped", run_id, "invoke_each", map_index=0)
    assert "Deferring the invocation" in log
    assert "Lambda answered 200 (executed version" in log


def test_function_error_fails_the_task_and_the_downstream_reads_exit_1(
    live_airflow: LiveAirflow, local_lambda: LocalLambda
) -> None:
    name = unique_function_name("live-raise")
    local_lambda.create_function(name, RAISE_HANDLER)
    run_id, state = _run(live_airflow, "live_function_error", name)

    assert state == "success"  # the run's leaf, the all_done reader, succeeded
    assert live_airflow.task_states("live_function_error", run_id) == {
        ("invoke", -1): "failed",
        ("exit_code_of", -1): "success",
    }
    document = live_airflow.xcom("live_function_error", run_id, "invoke")
    assert document["exit_code"] == 1
    assert document["result"]["function_error"] == "Unhandled"
    assert json.loads(document["result"]["payload"])["errorMessage"] == "boom"
    assert live_airflow.xcom("live_function_error", run_id, "exit_code_of") == 1


def test_read_timeout_sends_invoke_once(
    live_airflow: LiveAirflow, counting_function_factory: Callable[..., CountingFunction]
) -> None:
    # Both paths: the worker's botocore client and the triggerer's aiobotocore client.
    for dag_id in ("live_read_timeout", "live_read_timeout_deferred"):
        function = counting_function_factory(sleep_seconds=6, timeout=10)
        run_id, state = _run(live_airflow, dag_id, function.name)

        assert state == "success"  # the all_done reader is the leaf
        assert live_airflow.task_states(dag_id, run_id)[("invoke", -1)] == "failed"
        document = live_airflow.xcom(dag_id, run_id, "invoke")
        assert document["exit_code"] == 21, document["status_description"]
        assert live_airflow.xcom(dag_id, run_id, "exit_code_of") == 21
        # The execution outlives the timeout; any resend would have been counted by now.
        assert function.wait_for_count(2, timeout=8) == 1, dag_id
