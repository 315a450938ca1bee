"""Issue 14: durable executions through the provider's one path, against the local endpoint.

The endpoint runs the durable handlers for real (AWS's durable SDK, with its local runner as the
control plane). Executions are counted through the durable-executions API
(``ListDurableExecutionsByFunction``), and handler runs through the handlers' count files.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lambda_ue import cli, deferral
from airflow_provider_lambda_ue import durable_wait as walk
from airflow_provider_lambda_ue import invocation as path
from airflow_provider_lambda_ue.exceptions import (
    LambdaDataValidationError,
    LambdaFailError,
    LambdaFunctionError,
    LambdaInvokeError,
    LambdaReadTimeoutError,
)
from airflow_provider_lambda_ue.fields import raw_fields
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from airflow_provider_lambda_ue.triggers import events
from airflow_provider_lambda_ue.triggers.durable_execution import LambdaDurableExecutionTrigger
from tests.support.document_shape import RESULT_KEYS
from tests.support.durable import DurableFunction, create_durable_function, executions_of
from tests.support.failures import is_failure, raises
from tests.support.local_lambda import wait_for_count

pytest.importorskip(
    "aws_durable_execution_sdk_python_testing",
    reason="AWS's durable SDKs need Python >= 3.11 (the test extra installs them there)",
)

pytestmark = [pytest.mark.usefixtures("clean_aws_env", "aws_env"), pytest.mark.timeout(300)]

log = logging.getLogger("tests.durable")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy keys from the environment's chain (``aws_conn_id=None`` in the fields)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def durable(local_lambda: LocalLambda, tmp_path: Path) -> Callable[..., DurableFunction]:
    """``(handler_stem, execution_timeout=300) -> DurableFunction`` on the shared endpoint."""

    def create(handler_stem: str, execution_timeout: int = 300) -> DurableFunction:
        return create_durable_function(
            local_lambda, tmp_path, handler_stem, execution_timeout=execution_timeout
        )

    return create


def fields_for(server: LocalLambda, function: DurableFunction, **extra: Any) -> dict[str, Any]:
    extra.setdefault("wait_for_completion_timeout", 120)
    return raw_fields(
        function_name=function.name,
        aws_conn_id=None,
        region_name="us-east-1",
        endpoint_url=server.url,
        **extra,
    )


def run_path(fields: dict[str, Any], policy: walk.DurablePolicy | None = None) -> dict[str, Any]:
    current = path.prepare(fields, log)
    hook = path.build_hook(current)
    return path.run(current, hook, log, policy=policy or walk.DurablePolicy(poll_interval=0.5))


def listed(local_lambda: LocalLambda, function: DurableFunction) -> list[tuple[str, str]]:
    """``(name, status)`` of the function's executions, oldest first."""
    client = local_lambda.client("lambda")
    return [(item["DurableExecutionName"], item["Status"]) for item in executions_of(client, function.name)]


def cli_invoke(*args: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = cli.run(["invoke", *args], out)
    return code, json.loads(out.getvalue())


def test_cli_twice_with_one_name_reports_one_execution_and_runs_the_handler_once(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    """``lambda-ue invoke --durable-execution-name NAME`` twice: the same execution, one run."""
    function = durable("durable_step_wait")
    args = (
        "--function-name", function.name,
        "--durable-execution-name", "order-42",
        "--payload", '{"value": 21, "wait_seconds": 1}',
        "--endpoint-url", local_lambda.url,
        "--region", "us-east-1",
        "--wait-for-completion-timeout", "120",
    )  # fmt: skip
    first_code, first = cli_invoke(*args)
    second_code, second = cli_invoke(*args)

    assert (first_code, second_code) == (0, 0)
    for document in (first, second):
        result = document["result"]
        assert document["status_description"] == "SUCCESS: AWS Lambda function invoked successfully"
        assert document["invocation"]["fields"]["invocation_type"] == "Event"
        assert result["status_code"] == 202
        assert result["durable_execution_name"] == "order-42"
        assert result["durable_execution_status"] == "SUCCEEDED"
        assert json.loads(result["payload"]) == {"doubled": 42, "event": {"value": 21, "wait_seconds": 1}}
        # The seed's keys are all there, in the seed's order, before the durable ones.
        assert list(result)[: len(RESULT_KEYS)] == list(RESULT_KEYS)
    assert first["result"]["durable_execution_arn"] == second["result"]["durable_execution_arn"]
    assert listed(local_lambda, function) == [("order-42", "SUCCEEDED")]
    assert function.count == 1


def test_request_response_start_returns_the_result(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    """RequestResponse stays available: the start answers 200 with the result."""
    function = durable("durable_step_wait")
    fields = fields_for(
        local_lambda,
        function,
        durable_execution_name="sync-1",
        invocation_type="RequestResponse",
        payload={"value": 4, "wait_seconds": 1},
    )
    document = run_path(fields)
    assert document["exit_code"] == 0
    assert document["result"]["status_code"] == 200
    assert document["result"]["durable_execution_status"] == "SUCCEEDED"
    assert json.loads(document["result"]["payload"])["doubled"] == 8
    assert listed(local_lambda, function) == [("sync-1", "SUCCEEDED")]
    assert function.count == 1


def test_failed_execution_is_a_function_error_with_the_error_as_payload(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    """FAILED: exit 1 (``LambdaFunctionError``), the error object where the seed's payload is."""
    function = durable("durable_raise")
    fields = fields_for(
        local_lambda, function, durable_execution_name="will-fail", payload={"reason": "no stock"}
    )
    with raises(LambdaFunctionError) as raised:
        run_path(fields)
    document = raised.value.output
    assert document is not None
    assert document["exit_code"] == 1
    assert document["status_description"] == (
        "FAIL: Function error (Unhandled): ValueError: durable handler failed: no stock"
    )
    assert document["result"]["durable_execution_status"] == "FAILED"
    assert document["result"]["function_error"] == "Unhandled"
    assert json.loads(document["result"]["payload"])["errorType"] == "ValueError"
    assert listed(local_lambda, function) == [("will-fail", "FAILED")]


def test_failed_execution_without_fail_on_function_error_succeeds(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    function = durable("durable_raise")
    fields = fields_for(
        local_lambda, function, durable_execution_name="tolerated", fail_on_function_error=False, payload={}
    )
    document = run_path(fields)
    assert document["exit_code"] == 0
    assert document["result"]["durable_execution_status"] == "FAILED"
    assert document["result"]["function_error"] == "Unhandled"


def test_wait_running_out_is_exit_21_and_leaves_the_execution_running(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    """The wait runs out: exit 21 (no retry), the execution goes on, and a second start finds it."""
    function = durable("durable_long_wait")
    fields = fields_for(
        local_lambda,
        function,
        durable_execution_name="long-1",
        payload={"wait_seconds": 600},
        wait_for_completion_timeout=3,
    )
    with raises(LambdaReadTimeoutError) as raised:
        run_path(fields)
    document = raised.value.output
    assert document is not None
    assert document["exit_code"] == 21
    assert document["result"]["durable_execution_status"] == "RUNNING"
    assert document["changed"] is True
    assert listed(local_lambda, function) == [("long-1", "RUNNING")]

    with raises(LambdaReadTimeoutError) as again:
        run_path(fields)
    assert again.value.output is not None
    assert (
        again.value.output["result"]["durable_execution_arn"] == document["result"]["durable_execution_arn"]
    )
    assert listed(local_lambda, function) == [("long-1", "RUNNING")]
    assert wait_for_count(function.count_file, 1) == 1
    local_lambda.client("lambda").stop_durable_execution(
        DurableExecutionArn=document["result"]["durable_execution_arn"]
    )


def test_a_name_used_with_another_payload_is_exit_20(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    """``DurableExecutionAlreadyStartedException`` (409) is the input's fault: exit 20, no retry."""
    function = durable("durable_step_wait")
    run_path(fields_for(local_lambda, function, durable_execution_name="taken", payload={"value": 1}))
    with raises(LambdaDataValidationError) as raised:
        run_path(fields_for(local_lambda, function, durable_execution_name="taken", payload={"value": 2}))
    assert raised.value.output is not None
    assert raised.value.output["exit_code"] == 20
    assert "DurableExecutionAlreadyStartedException" in raised.value.output["status_description"]
    assert listed(local_lambda, function) == [("taken", "SUCCEEDED")]
    assert function.count == 1


def test_stopped_and_timed_out_executions_are_exit_1(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    function = durable("durable_long_wait", execution_timeout=3)
    with raises(LambdaFailError) as raised:
        run_path(
            fields_for(local_lambda, function, durable_execution_name="slow", payload={"wait_seconds": 600})
        )
    assert not is_failure(raised.value, LambdaFunctionError)
    assert raised.value.output is not None
    assert raised.value.output["exit_code"] == 1
    assert raised.value.output["result"]["durable_execution_status"] == "TIMED_OUT"
    assert raised.value.output["status_description"].startswith(
        "FAIL: durable execution slow ended TIMED_OUT"
    )


# -- generations: what an Airflow retry does ---------------------------------------------------


def test_retry_after_failed_starts_the_next_generation(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    """With generations (the operator), a retry after FAILED starts ``<name>-r2``: two executions."""
    function = durable("durable_raise")
    fields = fields_for(local_lambda, function, durable_execution_name="gen", payload={"reason": "r"})
    policy = walk.DurablePolicy(generations=True, poll_interval=0.5)
    for _ in range(2):
        with raises(LambdaFunctionError):
            run_path(fields, policy)
    assert listed(local_lambda, function) == [("gen", "FAILED"), ("gen-r2", "FAILED")]
    assert function.count == 2


def test_retry_finds_a_succeeded_execution_and_does_not_invoke(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    function = durable("durable_step_wait")
    fields = fields_for(local_lambda, function, durable_execution_name="done", payload={"value": 3})
    policy = walk.DurablePolicy(generations=True, poll_interval=0.5)
    first = run_path(fields, policy)
    second = run_path(fields, policy)
    assert second["result"]["payload"] == first["result"]["payload"]
    assert second["result"]["durable_execution_arn"] == first["result"]["durable_execution_arn"]
    assert second["result"]["request_id"] is None  # nothing was invoked
    assert listed(local_lambda, function) == [("done", "SUCCEEDED")]
    assert function.count == 1


def test_retry_reattaches_to_a_running_execution(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    """A try that finds its execution RUNNING waits for it: no second execution, one handler run."""
    function = durable("durable_step_wait")
    fields = fields_for(local_lambda, function, durable_execution_name="slowish", payload={"wait_seconds": 4})
    records: list[dict[str, Any]] = []
    policy = walk.DurablePolicy(generations=True, poll_interval=0.5, record=records.append)
    current = path.prepare(fields, log)
    started = walk.start_durable(current, path.build_hook(current), log, policy)
    assert started.execution.status == "RUNNING"
    # The "retry": a new try that knows nothing of the first (no task_state_store).
    document = run_path(fields, walk.DurablePolicy(generations=True, poll_interval=0.5))
    assert document["result"]["durable_execution_arn"] == started.execution.arn
    assert document["result"]["durable_execution_status"] == "SUCCEEDED"
    assert records == [{"name": "slowish", "generation": 1, "arn": started.execution.arn}]
    assert listed(local_lambda, function) == [("slowish", "SUCCEEDED")]
    assert function.count == 1


def test_a_recorded_generation_starts_the_walk_there(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    """``task_state_store``'s record skips the earlier generations' list calls."""
    function = durable("durable_step_wait")
    fields = fields_for(local_lambda, function, durable_execution_name="rec", payload={"value": 1})
    known = {"name": "rec", "generation": 3, "arn": "unused"}
    document = run_path(fields, walk.DurablePolicy(generations=True, poll_interval=0.5, known=known))
    assert document["result"]["durable_execution_name"] == "rec-r3"
    assert listed(local_lambda, function) == [("rec-r3", "SUCCEEDED")]


# -- the trigger ------------------------------------------------------------------------------


def _started(fields: dict[str, Any]) -> tuple[path.Invocation, walk.DurableStart]:
    current = path.prepare(fields, log)
    started = walk.start_durable(current, path.build_hook(current), log, walk.DurablePolicy())
    return current, started


async def _first_event(trigger: LambdaDurableExecutionTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        payload: dict[str, Any] = event.payload
        return payload
    raise AssertionError("no event")


def test_trigger_polls_to_the_end_and_the_worker_finishes_from_its_event(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    function = durable("durable_step_wait")
    fields = fields_for(local_lambda, function, durable_execution_name="deferred", payload={"value": 5})
    current, started = _started(fields)
    trigger = LambdaDurableExecutionTrigger(
        request=current.request.values(),
        result=started.result.to_dict(),
        deadline=started.deadline,
        poll_interval=0.5,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("LambdaDurableExecutionTrigger")
    json.dumps(kwargs)  # plain data: what the triggerer stores
    # A "restarted triggerer": the same trigger from its serialised form; it only polls.
    event = asyncio.run(_first_event(LambdaDurableExecutionTrigger(**kwargs)))
    assert event["status"] == "durable"
    assert event["execution"]["status"] == "SUCCEEDED"
    document = path.complete(current, events.read(event), log)
    assert document["exit_code"] == 0
    assert json.loads(document["result"]["payload"])["doubled"] == 10
    assert listed(local_lambda, function) == [("deferred", "SUCCEEDED")]
    assert function.count == 1


def test_trigger_deadline_ends_the_wait_with_exit_21(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    function = durable("durable_long_wait")
    fields = fields_for(
        local_lambda, function, durable_execution_name="t-long", payload={}, wait_for_completion_timeout=2
    )
    current, started = _started(fields)
    assert current.request is not None
    trigger = LambdaDurableExecutionTrigger(
        request=current.request.values(), result=started.result.to_dict(), deadline=started.deadline
    )
    event = asyncio.run(_first_event(trigger))
    assert event["execution"]["status"] == "RUNNING"
    with raises(LambdaReadTimeoutError):
        path.complete(current, events.read(event), log)
    asyncio.run(trigger.on_kill())
    assert listed(local_lambda, function) == [("t-long", "STOPPED")]


def test_trigger_on_kill_stops_and_can_be_turned_off(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    function = durable("durable_long_wait")
    triggers = {}
    for name, stop in (("kill-on", True), ("kill-off", False)):
        current, started = _started(
            fields_for(local_lambda, function, durable_execution_name=name, payload={})
        )
        assert current.request is not None
        triggers[name] = LambdaDurableExecutionTrigger(
            request=current.request.values(),
            result=started.result.to_dict(),
            deadline=started.deadline,
            stop_on_kill=stop,
        )
        asyncio.run(triggers[name].on_kill())
    assert dict(listed(local_lambda, function)) == {"kill-on": "STOPPED", "kill-off": "RUNNING"}
    # Stopping an execution that has ended changes nothing and raises nothing.
    asyncio.run(triggers["kill-on"].on_kill())
    client = local_lambda.client("lambda")
    client.stop_durable_execution(DurableExecutionArn=triggers["kill-off"].arn)


def test_poll_failure_is_an_error_event(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    """An ARN the service does not know: the trigger reports the failure (exit 1), it starts nothing."""
    function = durable("durable_step_wait")
    current = path.prepare(fields_for(local_lambda, function, durable_execution_name="x", payload={}), log)
    assert current.request is not None
    arn = "arn:aws:lambda:us-east-1:123456789012:function:nope:$LATEST/durable-execution/x/y"
    trigger = LambdaDurableExecutionTrigger(
        request=current.request.values(), result={"durable_execution_arn": arn}, deadline=2e9
    )
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == "error"
    with raises(LambdaInvokeError):
        path.complete(current, events.read(event), log)
    assert listed(local_lambda, function) == []


# -- the operator -----------------------------------------------------------------------------


class FakeTaskInstance:
    """What the operator reads of ``ti`` (its identity) and does with it (``xcom_push``)."""

    def __init__(self, run_id: str = "manual__1", map_index: int = -1) -> None:
        self.dag_id = "durable_dag"
        self.task_id = "invoke"
        self.run_id = run_id
        self.map_index = map_index
        self.pushed: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))


class FakeStateStore:
    """``task_state_store`` as the task SDK hands it (get/set of JSON values)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


def operator_for(server: LocalLambda, function: DurableFunction, **extra: Any) -> Any:
    from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

    extra.setdefault("wait_for_completion_timeout", 120)
    extra.setdefault("durable_poll_interval", 0.5)
    return LambdaInvokeOperator(
        task_id="invoke",
        function_name=function.name,
        aws_conn_id=None,
        region_name="us-east-1",
        endpoint_url=server.url,
        **extra,
    )


def test_operator_auto_name_waits_on_the_worker_and_records_the_execution(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    from airflow_provider_lambda_ue.durable import STATE_STORE_KEY, derive_execution_name

    function = durable("durable_step_wait")
    operator = operator_for(local_lambda, function, durable_execution_name="auto", payload={"value": 2})
    ti, store = FakeTaskInstance(), FakeStateStore()
    document = operator.execute({"ti": ti, "task_state_store": store})
    name = derive_execution_name("durable_dag", "manual__1", "invoke", -1)
    assert document["result"]["durable_execution_name"] == name
    assert document["result"]["durable_execution_status"] == "SUCCEEDED"
    assert store.values[STATE_STORE_KEY] == {
        "name": name,
        "generation": 1,
        "arn": document["result"]["durable_execution_arn"],
    }
    # Another try of the same task instance: the same execution, nothing invoked.
    again = operator.execute({"ti": FakeTaskInstance(), "task_state_store": store})
    assert again["result"]["durable_execution_arn"] == document["result"]["durable_execution_arn"]
    assert listed(local_lambda, function) == [(name, "SUCCEEDED")]
    assert function.count == 1


def test_operator_deferrable_finishes_a_quick_execution_without_deferring(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    function = durable("durable_step_wait")
    operator = operator_for(
        local_lambda,
        function,
        durable_execution_name="quick",
        payload={"wait_seconds": 1},
        deferrable=True,
        durable_grace_period=60,
    )
    document = operator.execute({"ti": FakeTaskInstance()})
    assert document["result"]["durable_execution_status"] == "SUCCEEDED"


def test_operator_deferrable_defers_the_wait_to_the_polling_trigger(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    from airflow_provider_lambda_ue.compat import TaskDeferred

    function = durable("durable_step_wait")
    operator = operator_for(
        local_lambda,
        function,
        durable_execution_name="deferring",
        payload={"value": 7, "wait_seconds": 5},
        deferrable=True,
        durable_grace_period=0.5,
    )
    # A durable execution starts on the worker.
    assert operator.start_from_trigger is False
    task = deferral.Task.of(operator, operator.fields())
    start = deferral.route(deferral.Facts(task=task)).start
    assert start is not None
    assert "a durable execution is started on the worker; the triggerer only polls it" in start.reasons
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": FakeTaskInstance()})
    trigger = deferred.value.trigger
    assert isinstance(trigger, LambdaDurableExecutionTrigger)
    assert deferred.value.method_name == "execute_complete"
    event = asyncio.run(_first_event(trigger))
    document = operator.execute_complete({"ti": FakeTaskInstance()}, event)
    assert json.loads(document["result"]["payload"])["doubled"] == 14
    assert listed(local_lambda, function) == [("deferring", "SUCCEEDED")]
    assert function.count == 1


def test_operator_on_kill_stops_the_execution_it_waits_for(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    """Mark failed / clear on the worker: ``on_kill`` stops the execution; the wait ends STOPPED."""
    import threading

    function = durable("durable_long_wait")
    operator = operator_for(local_lambda, function, durable_execution_name="killme", payload={})
    outcome: list[Any] = []

    def execute() -> None:
        try:
            outcome.append(operator.execute({"ti": FakeTaskInstance()}))
        except InvocationFailure as exc:
            outcome.append(exc)

    thread = threading.Thread(target=execute)
    thread.start()
    assert wait_for_count(function.count_file, 1) == 1
    while operator._durable_arn is None:  # the ARN is known once the start has answered
        thread.join(0.05)
    operator.on_kill()
    thread.join(120)
    assert not thread.is_alive()
    assert is_failure(outcome[0], LambdaFailError)
    assert outcome[0].output is not None
    assert outcome[0].output["result"]["durable_execution_status"] == "STOPPED"
    assert listed(local_lambda, function) == [("killme", "STOPPED")]


def test_operator_on_kill_can_be_turned_off(
    local_lambda: LocalLambda, durable: Callable[..., DurableFunction]
) -> None:
    function = durable("durable_long_wait")
    operator = operator_for(
        local_lambda,
        function,
        durable_execution_name="keep",
        payload={},
        stop_durable_execution_on_kill=False,
        # Room for the start itself on a busy machine (2 s ran out before it answered, under 6
        # xdist workers); the function waits far longer, so the wait still runs out.
        wait_for_completion_timeout=8,
    )
    with raises(LambdaReadTimeoutError):
        operator.execute({"ti": FakeTaskInstance()})
    arn = executions_of(local_lambda.client("lambda"), function.name)[0]["DurableExecutionArn"]
    operator._durable_arn = arn  # as during the wait
    operator.on_kill()
    assert listed(local_lambda, function) == [("keep", "RUNNING")]
    local_lambda.client("lambda").stop_durable_execution(DurableExecutionArn=arn)
