"""Each way a task runs, in the production deployment, side by side with the other runs.

What ``airflow dags test`` (one process) cannot show, and SQLite with the LocalExecutor shows
only in part: a deferred invocation waits in one of two triggerers and finishes on one of two
Celery workers; the document reaches XCom through the Execution API (PostgreSQL behind it); a
downstream ``all_done`` task reads a failure's document; a read timeout sends Invoke once; the
extra links resolve through the REST API; 40 quick deferred invocations, none lost, each sent once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_lambda_ue.testing.production_airflow import ProductionAirflow
from tests.production.dags.lambda_ue_live import MAPPED_ITEMS, RACE_LOG_LINE, RACE_TASKS
from tests.production.runs import Runs
from tests.support.document_shape import DOCUMENT_KEYS
from tests.support.links import function_url, log_url

pytestmark = pytest.mark.timeout(900)


def test_synchronous_invocation_runs_once_and_lands_in_xcom(runs: Runs) -> None:
    run, state = runs.finished("live_sync")
    airflow = runs.airflow

    assert state == "success", airflow.task_states(run.dag_id, run.run_id)
    document = airflow.xcom(run.dag_id, run.run_id, "invoke")
    assert set(document) == set(DOCUMENT_KEYS)
    assert document["exit_code"] == 0
    assert json.loads(document["result"]["payload"])["event"] == {"run_id": run.run_id}
    assert airflow.xcom(run.dag_id, run.run_id, "exit_code_of") == 0
    assert run.counting is not None and run.counting.count() == 1


def test_deferrable_invocation_starts_in_a_triggerer_and_finishes_on_a_worker(runs: Runs) -> None:
    run, state = runs.finished("live_deferrable")
    airflow = runs.airflow

    assert state == "success", airflow.task_states(run.dag_id, run.run_id)
    document = airflow.xcom(run.dag_id, run.run_id, "invoke")
    assert document["exit_code"] == 0
    answer = json.loads(document["result"]["payload"])
    # The task started in the triggerer: the payload's template was rendered there.
    assert answer["event"] == {"run_id": run.run_id}
    assert run.counting is not None and run.counting.count() == 1
    # One worker run only, after the trigger: no deferral from a worker ...
    log = airflow.task_log(run.dag_id, run.run_id, "invoke")
    assert "Deferring the invocation" not in log
    # ... the trigger's lines, then the worker's decoded log tail, in the task's log.
    assert f"Invoking {run.function}" in log
    assert f"START RequestId: {answer['request_id']}" in log


def _failed_and_read_downstream(runs: Runs, name: str, exit_code: int) -> dict[str, Any]:
    """The run's ``invoke`` failed with ``exit_code`` in its document, which its all_done reader read."""
    run, state = runs.finished(name)
    airflow = runs.airflow
    assert state == "success"  # the run's leaf, the all_done reader, succeeded
    assert airflow.task_states(run.dag_id, run.run_id) == {
        ("invoke", -1): "failed",
        ("exit_code_of", -1): "success",
    }
    document: dict[str, Any] = airflow.xcom(run.dag_id, run.run_id, "invoke")
    assert document["exit_code"] == exit_code, document["status_description"]
    assert airflow.xcom(run.dag_id, run.run_id, "exit_code_of") == exit_code
    return document


def test_bad_input_found_at_run_time_is_exit_20_with_the_document(runs: Runs) -> None:
    document = _failed_and_read_downstream(runs, "live_bad_input", 20)

    assert "qualifier" in document["status_description"]
    assert "wait_for_completion_timeout" in document["status_description"]
    counting = runs["live_bad_input"].counting
    assert counting is not None and counting.count() == 0


def test_mapped_invocations_defer_from_workers_and_each_push_their_document(runs: Runs) -> None:
    run, state = runs.finished("live_mapped")
    airflow = runs.airflow

    assert state == "success", airflow.task_states(run.dag_id, run.run_id)
    assert airflow.xcom(run.dag_id, run.run_id, "collect") == [{"item": n} for n in range(MAPPED_ITEMS)]
    assert run.counting is not None and run.counting.count() == 4
    # Deferred from a worker, ended by the trigger: the trigger's log holds the whole outcome.
    log = airflow.task_log(run.dag_id, run.run_id, "invoke_each", map_index=0)
    assert "Deferring the invocation" in log
    assert "Lambda answered 200 (executed version" in log


def test_function_error_fails_the_task_and_the_downstream_reads_exit_1(runs: Runs) -> None:
    document = _failed_and_read_downstream(runs, "live_function_error", 1)

    assert document["result"]["function_error"] == "Unhandled"
    assert json.loads(document["result"]["payload"])["errorMessage"] == "boom"


@pytest.mark.parametrize("dag_id", ["live_read_timeout", "live_read_timeout_deferred"])
def test_read_timeout_sends_invoke_once(runs: Runs, dag_id: str) -> None:
    # Both paths: the worker's botocore client and the triggerer's aiobotocore client.
    _failed_and_read_downstream(runs, dag_id, 21)

    # The execution outlives the timeout; any resend would have been counted by now.
    counting = runs[dag_id].counting
    assert counting is not None and counting.wait_for_count(2, timeout=8) == 1


def test_links_resolve_to_the_console_through_the_rest_api(runs: Runs) -> None:
    """
    The operator's extra links read through the REST API, as the UI reads them: from the worker
    run's end (synchronous; the worker that finishes a task started in the triggerer) and from the
    trigger itself for a task it ends (deferred from a worker, mapped here). The URLs must be the
    console's, exactly: the function at its qualifier, the default log group by the request id.
    """
    run, state = runs.finished("live_links")
    airflow = runs.airflow
    assert state == "success", airflow.task_states(run.dag_id, run.run_id)

    expected_paths = {
        ("sync", -1): "/aliases/live",
        ("in_triggerer", -1): "/versions/1",
        ("mapped", 0): "/versions/$LATEST",
    }
    for (task_id, map_index), path in expected_paths.items():
        document = airflow.xcom(run.dag_id, run.run_id, task_id, map_index)
        request_id = document["result"]["request_id"]
        assert request_id, document
        assert airflow.extra_links(run.dag_id, run.run_id, task_id, map_index) == {
            "CloudWatch Logs": log_url(run.function, request_id),
            "Lambda Function": function_url(run.function, path),
        }, task_id
    assert run.counting is not None and run.counting.count() == 3
    # The mapped task deferred from a worker and the trigger ended it: its links came from there.
    assert "Deferring the invocation" in airflow.task_log(run.dag_id, run.run_id, "mapped", map_index=0)


def test_quick_deferred_invocations_are_never_lost(runs: Runs) -> None:
    """
    40 quick deferrable tasks, half started in a triggerer, half mapped (deferred from a worker and
    ended by the trigger), while every other run of the tier shares the deployment: none lost, each
    sent once, and neither scheduler met the race.

    The race (found on Airflow 3.3's LocalExecutor, in the shape of ``airflow standalone``): a task
    defers from a worker, its trigger fires within a second, the scheduler queues the task again,
    and only then reads the executor's report that the deferring run exited; with the same try
    number it sees a queued task reported finished and marks it failed (``... finished with state
    success, but the task instance's state attribute is queued``). Whatever the executor, nothing
    here gives it a report to race with: a task started in the triggerer has no worker run before
    its wait, and the trigger ends a mapped task itself (nothing is queued again). Two schedulers
    reading Celery's reports make the window wider than one LocalExecutor does.
    """
    run, state = runs.finished("live_race")
    airflow = runs.airflow

    states = airflow.task_states(run.dag_id, run.run_id)
    lost = sorted(task for task, task_state in states.items() if task_state != "success")
    assert run.counting is not None
    print(f"\n{len(states)} deferred invocations, {len(lost)} lost, {run.counting.count()} executions")
    race = [
        line for name in airflow.components("scheduler") for line in airflow.log_lines(name, RACE_LOG_LINE)
    ]
    assert lost == [], race
    assert state == "success"
    assert len(states) == RACE_TASKS
    assert run.counting.count() == RACE_TASKS
    for task_id, map_index in states:
        assert airflow.xcom(run.dag_id, run.run_id, task_id, map_index)["exit_code"] == 0
    assert race == []


def test_worker_output_has_no_error_line_for_a_successful_run(runs: Runs) -> None:
    """
    A Celery worker's output (what an operator on call reads) has no error-level line about a run
    that succeeded. Fails while a task that has no CloudWatch Logs link yet makes the Task SDK's
    client log ``[error] XCom not found ... key='lambda_ue_invocation_log'`` when Airflow asks the
    links for their URLs at the task's end (issue 28, item 3: fixed in the core package).
    """
    airflow: ProductionAirflow = runs.airflow
    succeeded = [
        runs[name] for name in ("live_sync", "live_deferrable", "live_mapped", "live_links", "live_race")
    ]
    for run in succeeded:
        assert airflow.wait_for_run(run.dag_id, run.run_id, timeout=600) == "success", run.dag_id
    output = [
        line for name in airflow.components("worker") for line in airflow.component_log(name).splitlines()
    ]
    for run in succeeded:  # the workers' output covers these runs: they name them
        assert any(run.run_id in line for line in output), run.dag_id
    # Not ours: the Task SDK iterates a mapped task's output (``collect(mapped.output)``) by
    # asking for one item past the end, and its client logs that item's 404 as an error.
    past_the_end = f"XCom with key='return_value' offset={MAPPED_ITEMS} not found for task 'invoke_each'"
    errors = [
        line
        for line in output
        if "[error" in line
        and any(run.run_id in line or run.dag_id in line for run in succeeded)
        and past_the_end not in line
    ]
    assert errors == [], "\n".join(errors[:10])
