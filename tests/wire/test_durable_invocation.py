"""Issue 14: durable executions through the provider's one path, against the local endpoint.

The endpoint runs the durable handlers for real (AWS's durable SDK, with its local runner as the
control plane). Executions are counted through the durable-executions API
(``ListDurableExecutionsByFunction``), and handler runs through the handlers' count files.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class Durable:
    """A durable function on the shared endpoint, and the provider's fields and operator for it."""

    server: LocalLambda
    function: DurableFunction

    @property
    def count(self) -> int:
        """Real step executions so far."""
        return self.function.count

    def fields(self, name: str, **extra: Any) -> dict[str, Any]:
        """The fields that start (or find) the execution ``name``; a 120 s wait unless ``extra`` says."""
        extra.setdefault("wait_for_completion_timeout", 120)
        return raw_fields(
            function_name=self.function.name,
            aws_conn_id=None,
            region_name="us-east-1",
            endpoint_url=self.server.url,
            durable_execution_name=name,
            **extra,
        )

    def operator(self, name: str, **extra: Any) -> Any:
        """A ``LambdaInvokeOperator`` (task ``invoke``) for the execution ``name``; polls every 0.5 s."""
        from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

        extra.setdefault("wait_for_completion_timeout", 120)
        extra.setdefault("durable_poll_interval", 0.5)
        return LambdaInvokeOperator(
            task_id="invoke",
            function_name=self.function.name,
            aws_conn_id=None,
            region_name="us-east-1",
            endpoint_url=self.server.url,
            durable_execution_name=name,
            **extra,
        )

    def executions(self) -> list[tuple[str, str]]:
        """``(name, status)`` of the function's executions, oldest first."""
        listed = executions_of(self.server.client("lambda"), self.function.name)
        return [(item["DurableExecutionName"], item["Status"]) for item in listed]

    def stop(self, arn: str) -> None:
        self.server.client("lambda").stop_durable_execution(DurableExecutionArn=arn)


@pytest.fixture
def durable(local_lambda: LocalLambda, tmp_path: Path) -> Callable[..., Durable]:
    """``(handler_stem, execution_timeout=300) -> Durable`` on the shared endpoint."""

    def create(handler_stem: str, execution_timeout: int = 300) -> Durable:
        function = create_durable_function(
            local_lambda, tmp_path, handler_stem, execution_timeout=execution_timeout
        )
        return Durable(local_lambda, function)

    return create


@pytest.fixture
def step_wait(durable: Callable[..., Durable]) -> Durable:
    """``durable_step_wait``: one counted step doubling ``value``, a durable wait of ``wait_seconds``."""
    return durable("durable_step_wait")


@pytest.fixture
def long_wait(durable: Callable[..., Durable]) -> Durable:
    """``durable_long_wait``: one counted step, then a durable wait of ``wait_seconds`` (600 s)."""
    return durable("durable_long_wait")


@pytest.fixture
def raising(durable: Callable[..., Durable]) -> Durable:
    """``durable_raise``: one counted step, then ``ValueError("durable handler failed: <reason>")``."""
    return durable("durable_raise")


def run_path(fields: dict[str, Any], policy: walk.DurablePolicy | None = None) -> dict[str, Any]:
    current = path.prepare(fields, log)
    hook = path.build_hook(current)
    return path.run(current, hook, log, policy=policy or walk.DurablePolicy(poll_interval=0.5))


def retry_policy(**options: Any) -> walk.DurablePolicy:
    """The operator's policy: generations on (an Airflow retry), polling every 0.5 s."""
    return walk.DurablePolicy(generations=True, poll_interval=0.5, **options)


def failed_document(
    error: type[LambdaInvokeError], fields: dict[str, Any], policy: walk.DurablePolicy | None = None
) -> dict[str, Any]:
    """Run the path expecting ``error`` (see :func:`tests.support.failures.raises`); its document."""
    with raises(error) as raised:
        run_path(fields, policy)
    document = raised.value.output
    assert document is not None
    return document


def cli_invoke(*args: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = cli.run(["invoke", *args], out)
    return code, json.loads(out.getvalue())


def test_cli_twice_with_one_name_reports_one_execution_and_runs_the_handler_once(
    local_lambda: LocalLambda, step_wait: Durable
) -> None:
    """``lambda-ue invoke --durable-execution-name NAME`` twice: the same execution, one run."""
    args = (
        "--function-name", step_wait.function.name,
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
    assert step_wait.executions() == [("order-42", "SUCCEEDED")]
    assert step_wait.count == 1


def test_request_response_start_returns_the_result(step_wait: Durable) -> None:
    """RequestResponse stays available: the start answers 200 with the result."""
    payload = {"value": 4, "wait_seconds": 1}
    document = run_path(step_wait.fields("sync-1", invocation_type="RequestResponse", payload=payload))
    assert document["exit_code"] == 0
    assert document["result"]["status_code"] == 200
    assert document["result"]["durable_execution_status"] == "SUCCEEDED"
    assert json.loads(document["result"]["payload"])["doubled"] == 8
    assert step_wait.executions() == [("sync-1", "SUCCEEDED")]
    assert step_wait.count == 1


def test_failed_execution_is_a_function_error_with_the_error_as_payload(raising: Durable) -> None:
    """FAILED: exit 1 (``LambdaFunctionError``), the error object where the seed's payload is."""
    document = failed_document(
        LambdaFunctionError, raising.fields("will-fail", payload={"reason": "no stock"})
    )
    assert document["exit_code"] == 1
    assert document["status_description"] == (
        "FAIL: Function error (Unhandled): ValueError: durable handler failed: no stock"
    )
    assert document["result"]["durable_execution_status"] == "FAILED"
    assert document["result"]["function_error"] == "Unhandled"
    assert json.loads(document["result"]["payload"])["errorType"] == "ValueError"
    assert raising.executions() == [("will-fail", "FAILED")]


def test_failed_execution_without_fail_on_function_error_succeeds(raising: Durable) -> None:
    document = run_path(raising.fields("tolerated", fail_on_function_error=False, payload={}))
    assert document["exit_code"] == 0
    assert document["result"]["durable_execution_status"] == "FAILED"
    assert document["result"]["function_error"] == "Unhandled"


def test_wait_running_out_is_exit_21_and_leaves_the_execution_running(long_wait: Durable) -> None:
    """The wait runs out: exit 21 (no retry), the execution goes on, and a second start finds it."""
    fields = long_wait.fields("long-1", payload={"wait_seconds": 600}, wait_for_completion_timeout=3)
    document = failed_document(LambdaReadTimeoutError, fields)
    assert document["exit_code"] == 21
    assert document["result"]["durable_execution_status"] == "RUNNING"
    assert document["changed"] is True
    assert long_wait.executions() == [("long-1", "RUNNING")]

    again = failed_document(LambdaReadTimeoutError, fields)
    assert again["result"]["durable_execution_arn"] == document["result"]["durable_execution_arn"]
    assert long_wait.executions() == [("long-1", "RUNNING")]
    assert wait_for_count(long_wait.function.count_file, 1) == 1
    long_wait.stop(document["result"]["durable_execution_arn"])


def test_a_name_used_with_another_payload_is_exit_20(step_wait: Durable) -> None:
    """``DurableExecutionAlreadyStartedException`` (409) is the input's fault: exit 20, no retry."""
    run_path(step_wait.fields("taken", payload={"value": 1}))
    document = failed_document(LambdaDataValidationError, step_wait.fields("taken", payload={"value": 2}))
    assert document["exit_code"] == 20
    assert "DurableExecutionAlreadyStartedException" in document["status_description"]
    assert step_wait.executions() == [("taken", "SUCCEEDED")]
    assert step_wait.count == 1


def test_stopped_and_timed_out_executions_are_exit_1(durable: Callable[..., Durable]) -> None:
    slow = durable("durable_long_wait", execution_timeout=3)
    with raises(LambdaFailError) as raised:
        run_path(slow.fields("slow", payload={"wait_seconds": 600}))
    assert not is_failure(raised.value, LambdaFunctionError)
    assert raised.value.output is not None
    assert raised.value.output["exit_code"] == 1
    assert raised.value.output["result"]["durable_execution_status"] == "TIMED_OUT"
    assert raised.value.output["status_description"].startswith(
        "FAIL: durable execution slow ended TIMED_OUT"
    )


# -- generations: what an Airflow retry does ---------------------------------------------------


def test_retry_after_failed_starts_the_next_generation(raising: Durable) -> None:
    """With generations (the operator), a retry after FAILED starts ``<name>-r2``: two executions."""
    fields = raising.fields("gen", payload={"reason": "r"})
    for _ in range(2):
        with raises(LambdaFunctionError):
            run_path(fields, retry_policy())
    assert raising.executions() == [("gen", "FAILED"), ("gen-r2", "FAILED")]
    assert raising.count == 2


def test_retry_finds_a_succeeded_execution_and_does_not_invoke(step_wait: Durable) -> None:
    fields = step_wait.fields("done", payload={"value": 3})
    first = run_path(fields, retry_policy())
    second = run_path(fields, retry_policy())
    assert second["result"]["payload"] == first["result"]["payload"]
    assert second["result"]["durable_execution_arn"] == first["result"]["durable_execution_arn"]
    assert second["result"]["request_id"] is None  # nothing was invoked
    assert step_wait.executions() == [("done", "SUCCEEDED")]
    assert step_wait.count == 1


def test_retry_reattaches_to_a_running_execution(step_wait: Durable) -> None:
    """A try that finds its execution RUNNING waits for it: no second execution, one handler run."""
    fields = step_wait.fields("slowish", payload={"wait_seconds": 4})
    records: list[dict[str, Any]] = []
    current = path.prepare(fields, log)
    started = walk.start_durable(current, path.build_hook(current), log, retry_policy(record=records.append))
    assert started.execution.status == "RUNNING"
    # The "retry": a new try that knows nothing of the first (no task_state_store).
    document = run_path(fields, retry_policy())
    assert document["result"]["durable_execution_arn"] == started.execution.arn
    assert document["result"]["durable_execution_status"] == "SUCCEEDED"
    assert records == [{"name": "slowish", "generation": 1, "arn": started.execution.arn}]
    assert step_wait.executions() == [("slowish", "SUCCEEDED")]
    assert step_wait.count == 1


def test_a_recorded_generation_starts_the_walk_there(step_wait: Durable) -> None:
    """``task_state_store``'s record skips the earlier generations' list calls."""
    known = {"name": "rec", "generation": 3, "arn": "unused"}
    document = run_path(step_wait.fields("rec", payload={"value": 1}), retry_policy(known=known))
    assert document["result"]["durable_execution_name"] == "rec-r3"
    assert step_wait.executions() == [("rec-r3", "SUCCEEDED")]


# -- the trigger ------------------------------------------------------------------------------


def started_trigger(
    fields: dict[str, Any], **options: Any
) -> tuple[path.Invocation, LambdaDurableExecutionTrigger]:
    """Start the execution as the worker does; the invocation, and the trigger that polls it."""
    current = path.prepare(fields, log)
    started = walk.start_durable(current, path.build_hook(current), log, walk.DurablePolicy())
    assert current.request is not None
    trigger = LambdaDurableExecutionTrigger(
        request=current.request.values(),
        result=started.result.to_dict(),
        deadline=started.deadline,
        **options,
    )
    return current, trigger


async def _first_event(trigger: LambdaDurableExecutionTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        payload: dict[str, Any] = event.payload
        return payload
    raise AssertionError("no event")


def test_trigger_polls_to_the_end_and_the_worker_finishes_from_its_event(step_wait: Durable) -> None:
    current, trigger = started_trigger(step_wait.fields("deferred", payload={"value": 5}), poll_interval=0.5)
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
    assert step_wait.executions() == [("deferred", "SUCCEEDED")]
    assert step_wait.count == 1


def test_trigger_deadline_ends_the_wait_with_exit_21(long_wait: Durable) -> None:
    current, trigger = started_trigger(long_wait.fields("t-long", payload={}, wait_for_completion_timeout=2))
    event = asyncio.run(_first_event(trigger))
    assert event["execution"]["status"] == "RUNNING"
    with raises(LambdaReadTimeoutError):
        path.complete(current, events.read(event), log)
    asyncio.run(trigger.on_kill())
    assert long_wait.executions() == [("t-long", "STOPPED")]


async def _kill_as_the_triggerer_does(trigger: LambdaDurableExecutionTrigger) -> None:
    """``on_kill`` under ``wait_for``, cancelled again every few milliseconds until it ends: the
    triggerer repeats a user's cancellation on every loop, and gives up on an ``on_kill`` it hits."""
    killing = asyncio.ensure_future(asyncio.wait_for(trigger.on_kill(), timeout=30))
    await asyncio.sleep(0.05)  # the first cancellation was run's; these land in on_kill
    while not killing.done():
        killing.cancel("__airflow_user_action__")
        await asyncio.sleep(0.005)
    with contextlib.suppress(asyncio.CancelledError):
        await killing
    # The triggerer's loop runs on after the trigger has ended: so does what on_kill left running.
    if left := asyncio.all_tasks() - {asyncio.current_task()}:
        await asyncio.wait(left, timeout=60)


def test_trigger_on_kill_cancelled_again_and_again_still_stops(long_wait: Durable) -> None:
    _, trigger = started_trigger(long_wait.fields("kill-repeated", payload={}))
    asyncio.run(_kill_as_the_triggerer_does(trigger))
    assert long_wait.executions() == [("kill-repeated", "STOPPED")]


def test_trigger_on_kill_stops_and_can_be_turned_off(long_wait: Durable) -> None:
    triggers = {}
    for name, stop in (("kill-on", True), ("kill-off", False)):
        _, triggers[name] = started_trigger(long_wait.fields(name, payload={}), stop_on_kill=stop)
        asyncio.run(triggers[name].on_kill())
    assert dict(long_wait.executions()) == {"kill-on": "STOPPED", "kill-off": "RUNNING"}
    # Stopping an execution that has ended changes nothing and raises nothing.
    asyncio.run(triggers["kill-on"].on_kill())
    long_wait.stop(triggers["kill-off"].arn)


def test_poll_failure_is_an_error_event(step_wait: Durable) -> None:
    """An ARN the service does not know: the trigger reports the failure (exit 1), it starts nothing."""
    current = path.prepare(step_wait.fields("x", payload={}), log)
    assert current.request is not None
    arn = "arn:aws:lambda:us-east-1:123456789012:function:nope:$LATEST/durable-execution/x/y"
    trigger = LambdaDurableExecutionTrigger(
        request=current.request.values(), result={"durable_execution_arn": arn}, deadline=2e9
    )
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == "error"
    with raises(LambdaInvokeError):
        path.complete(current, events.read(event), log)
    assert step_wait.executions() == []


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


def test_operator_auto_name_waits_on_the_worker_and_records_the_execution(step_wait: Durable) -> None:
    from airflow_provider_lambda_ue.durable import STATE_STORE_KEY, derive_execution_name

    operator = step_wait.operator("auto", payload={"value": 2})
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
    assert step_wait.executions() == [(name, "SUCCEEDED")]
    assert step_wait.count == 1


def test_operator_deferrable_finishes_a_quick_execution_without_deferring(step_wait: Durable) -> None:
    operator = step_wait.operator(
        "quick", payload={"wait_seconds": 1}, deferrable=True, durable_grace_period=60
    )
    document = operator.execute({"ti": FakeTaskInstance()})
    assert document["result"]["durable_execution_status"] == "SUCCEEDED"


def test_operator_deferrable_defers_the_wait_to_the_polling_trigger(step_wait: Durable) -> None:
    from airflow_provider_lambda_ue.compat import TaskDeferred

    payload = {"value": 7, "wait_seconds": 5}
    operator = step_wait.operator("deferring", payload=payload, deferrable=True, durable_grace_period=0.5)
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
    assert step_wait.executions() == [("deferring", "SUCCEEDED")]
    assert step_wait.count == 1


def test_operator_on_kill_stops_the_execution_it_waits_for(long_wait: Durable) -> None:
    """Mark failed / clear on the worker: ``on_kill`` stops the execution; the wait ends STOPPED."""
    import threading

    operator = long_wait.operator("killme", payload={})
    outcome: list[Any] = []

    def execute() -> None:
        try:
            outcome.append(operator.execute({"ti": FakeTaskInstance()}))
        except InvocationFailure as exc:
            outcome.append(exc)

    thread = threading.Thread(target=execute)
    thread.start()
    assert wait_for_count(long_wait.function.count_file, 1) == 1
    while operator._durable_arn is None:  # the ARN is known once the start has answered
        thread.join(0.05)
    operator.on_kill()
    thread.join(120)
    assert not thread.is_alive()
    assert is_failure(outcome[0], LambdaFailError)
    assert outcome[0].output is not None
    assert outcome[0].output["result"]["durable_execution_status"] == "STOPPED"
    assert long_wait.executions() == [("killme", "STOPPED")]


def test_operator_on_kill_can_be_turned_off(long_wait: Durable) -> None:
    operator = long_wait.operator(
        "keep",
        payload={},
        stop_durable_execution_on_kill=False,
        # Room for the start itself on a busy machine (2 s ran out before it answered, under 6
        # xdist workers); the function waits far longer, so the wait still runs out.
        wait_for_completion_timeout=8,
    )
    with raises(LambdaReadTimeoutError):
        operator.execute({"ti": FakeTaskInstance()})
    arn = executions_of(long_wait.server.client("lambda"), long_wait.function.name)[0]["DurableExecutionArn"]
    operator._durable_arn = arn  # as during the wait
    operator.on_kill()
    assert long_wait.executions() == [("keep", "RUNNING")]
    long_wait.stop(arn)
