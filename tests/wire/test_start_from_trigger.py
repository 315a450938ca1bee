"""Starting deferrable tasks in the triggerer (Airflow's ``start_from_trigger``).

The operator decides at DAG-parse time whether the task can start in the triggerer and, if so,
hands Airflow ``start_trigger_args`` with the raw fields. The trigger is then built from those
kwargs (as the triggerer does), rendered by Airflow's own ``BaseTrigger`` rendering (3.3), validated
and run; ``execute_complete`` finishes on the worker. The production tier (tests/production) and
the compatibility tier's live Airflows run the same in a real scheduler and triggerer.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_lambda_ue import compat, deferral
from airflow_provider_lambda_ue.exceptions import LambdaDataValidationError
from airflow_provider_lambda_ue.fields import FIELD_NAMES
from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from airflow_provider_lambda_ue.triggers import events
from airflow_provider_lambda_ue.triggers.lambda_invoke import LambdaInvokeTrigger
from tests.support.failures import raises
from tests.support.local_lambda import ECHO_HANDLER, CountingFunction, new_function

pytestmark = pytest.mark.usefixtures("clean_aws_env")


class FakeTaskInstance:
    """What the operator needs of ``context["ti"]``: ``xcom_push`` (the failure document)."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


@pytest.fixture(autouse=True)
def aws_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps({"conn_type": "aws", "login": "testing", "password": "testing"}),
    )


def operator(**kwargs: Any) -> LambdaInvokeOperator:
    kwargs.setdefault("task_id", "invoke")
    kwargs.setdefault("region_name", "us-east-1")
    kwargs.setdefault("deferrable", True)
    return LambdaInvokeOperator(**kwargs)


def obstacles(op: LambdaInvokeOperator) -> tuple[str, ...]:
    """Why the task cannot start in the triggerer: the start step of :func:`.deferral.route`."""
    start = deferral.route(
        deferral.Facts(deferrable=op.deferrable, task=deferral.Task.of(op, op.fields()))
    ).start
    assert start is not None
    return start.reasons


def trigger_of(op: LambdaInvokeOperator, context: dict[str, Any] | None = None) -> LambdaInvokeTrigger:
    """The trigger Airflow builds from ``start_trigger_args`` (JSON round trip), rendered as 3.3 does."""
    args = op.start_trigger_args
    assert args is not None
    module, _, name = args.trigger_cls.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(args.trigger_kwargs)))
    if context is not None:
        # Airflow's BaseTrigger picks the templated fields from the task and its trigger kwargs.
        trigger.task_instance = SimpleNamespace(task_id=op.task_id, task=op)
        trigger.render_template_fields(context=context)
    return trigger


async def _first_event(trigger: LambdaInvokeTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


def event_of(trigger: LambdaInvokeTrigger) -> dict[str, Any]:
    event = asyncio.run(_first_event(trigger))
    json.dumps(event)  # events travel as JSON
    return event


def test_a_deferrable_task_starts_in_the_triggerer() -> None:
    op = operator(function_name="fn", payload={"run": "{{ run_id }}"})

    assert op.start_from_trigger is True
    assert obstacles(op) == ()
    args = op.start_trigger_args
    assert args is not None
    assert args.trigger_cls == "airflow_provider_lambda_ue.triggers.lambda_invoke.LambdaInvokeTrigger"
    assert args.next_method == "execute_complete"
    # The raw fields, and whether the trigger shows the extra links while it waits.
    assert args.trigger_kwargs == {
        **{name: getattr(op, name) for name in FIELD_NAMES},
        "started_in_triggerer": True,
        "retries": 0,
        "do_xcom_push": True,
    }
    assert args.trigger_kwargs["payload"] == {"run": "{{ run_id }}"}  # rendered in the triggerer


@pytest.mark.parametrize(
    ("kwargs", "started"),
    [
        ({"deferrable": False}, False),
        ({"start_from_trigger": False}, False),
        ({"deferrable": True}, True),
    ],
)
def test_only_deferrable_tasks_that_allow_it_start_in_the_triggerer(
    kwargs: dict[str, Any], started: bool
) -> None:
    op = operator(function_name="fn", **kwargs)
    assert op.start_from_trigger is started
    assert (op.start_trigger_args is not None) is started


@pytest.mark.parametrize(
    ("kwargs", "obstacle"),
    [
        ({"payload": "event_payload.json"}, "payload: a template file"),
        ({"client_context": "client_context.json"}, "client_context: a template file"),
        ({"payload": b'{"a": 1}'}, "payload: not plain data"),
        ({"invocation_type": "Event"}, "Event invocations answer at once"),
        ({"invocation_type": "DryRun"}, "DryRun invocations answer at once"),
    ],
)
def test_what_keeps_a_task_from_starting_in_the_triggerer(kwargs: dict[str, Any], obstacle: str) -> None:
    op = operator(function_name="fn", **kwargs)
    assert any(obstacle in reason for reason in obstacles(op))
    assert op.start_from_trigger is False
    assert op.start_trigger_args is None


def test_templated_fields_before_airflow_3_3_defer_from_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "AIRFLOW_V_3_3_PLUS", False)
    templated = operator(function_name="{{ params.fn }}")
    plain = operator(function_name="fn")

    assert templated.start_from_trigger is False
    assert any("function_name: templated" in reason for reason in obstacles(templated))
    assert plain.start_from_trigger is True


def test_a_dag_with_its_own_jinja_settings_keeps_templated_tasks_on_the_worker() -> None:
    with DAG("own_jinja", schedule=None, user_defined_macros={"fn": "my-function"}):
        templated = operator(task_id="templated", function_name="{{ fn }}")
        plain = operator(task_id="plain", function_name="fn")

    assert templated.start_from_trigger is False
    assert plain.start_from_trigger is True


def test_mapped_tasks_defer_from_a_worker() -> None:
    with DAG("mapped", schedule=None):
        mapped = LambdaInvokeOperator.partial(task_id="each", function_name="fn", deferrable=True).expand(
            payload=[{"n": 1}, {"n": 2}]
        )
    # Airflow reads the class's attributes for mapped tasks (it cannot start them in the triggerer).
    assert mapped.start_from_trigger is False
    assert mapped.start_trigger_args is None


def test_the_scheduler_sees_start_from_trigger_in_the_serialised_dag() -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG("serialised", schedule=None) as dag:
        operator(task_id="started_in_triggerer", function_name="fn")
        operator(task_id="on_worker", function_name="fn", deferrable=False)

    task = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("started_in_triggerer")
    assert task.start_from_trigger is True
    kwargs = task.start_trigger_args.trigger_kwargs
    kwargs = kwargs.get("__var", kwargs)  # stored in Airflow's serialisation format
    assert kwargs["function_name"] == "fn"
    assert set(kwargs) == {*FIELD_NAMES, "started_in_triggerer", "retries", "do_xcom_push"}
    assert task.start_trigger_args.next_method == "execute_complete"
    other = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("on_worker")
    assert other.start_from_trigger is False


def test_started_in_the_triggerer_renders_invokes_and_finishes_on_the_worker(
    local_lambda: LocalLambda,
) -> None:
    name = new_function(local_lambda, "sft-echo", ECHO_HANDLER)
    op = operator(
        function_name="{{ params.fn }}", payload={"run": "{{ run_id }}"}, endpoint_url=local_lambda.url
    )

    trigger = trigger_of(op, {"params": {"fn": name}, "run_id": "run-1"})
    assert trigger.function_name == name
    event = event_of(trigger)
    assert event["status"] == "success"

    # The worker renders its own copy, then completes from the event.
    op.function_name = name
    op.payload = {"run": "run-1"}
    document = op.execute_complete({"ti": FakeTaskInstance()}, event)
    assert document["exit_code"] == 0
    assert json.loads(document["result"]["payload"]) == {"run": "run-1"}

    # What reading the connections found travels with the event: the worker builds no hook (no
    # boto3 in its task process) and writes the document a worker with its own hook writes.
    assert event["resolved"] == {
        "credentials_set": True,
        "proxy_credentials_set": False,
        "region": "us-east-1",
    }
    assert op._invoker is None
    assert document["invocation"]["fields"]["credentials_user"] == "****"
    older = operator(function_name=name, payload={"run": "run-1"}, endpoint_url=local_lambda.url)
    without = {key: value for key, value in event.items() if key != "resolved"}  # an older trigger's
    assert older.execute_complete({"ti": FakeTaskInstance()}, without) == document
    assert older._invoker is not None


def test_bad_fields_found_in_the_triggerer_are_exit_20_before_any_invocation(
    counting_function: CountingFunction, local_lambda: LocalLambda
) -> None:
    op = operator(
        function_name=counting_function.name,
        qualifier="{{ 'not a qualifier!' }}",
        wait_for_completion_timeout="soon",
        endpoint_url=local_lambda.url,
    )
    event = event_of(trigger_of(op, {}))

    assert event["status"] == "error"
    assert event["exit_code"] == 20
    assert "qualifier" in event["detail"] and "wait_for_completion_timeout" in event["detail"]
    assert counting_function.count() == 0
    # On the worker: the same exit code, with the document on XCom.
    ti = FakeTaskInstance()
    op.qualifier = "not a qualifier!"
    with raises(LambdaDataValidationError) as raised:
        op.execute_complete({"ti": ti}, event)
    assert ti.xcom["return_value"]["exit_code"] == 20
    assert ti.xcom["return_value"] == raised.value.output


def test_a_templated_event_invocation_comes_back_to_the_worker(
    counting_function: CountingFunction, local_lambda: LocalLambda
) -> None:
    op = operator(
        function_name=counting_function.name, invocation_type="{{ 'Event' }}", endpoint_url=local_lambda.url
    )
    assert op.start_from_trigger is True  # the type is only known once rendered
    event = event_of(trigger_of(op, {}))

    assert event["status"] == events.RunOnWorker.status
    assert counting_function.count() == 0
    op.invocation_type = "Event"
    document = op.execute_complete({"ti": FakeTaskInstance()}, event)
    assert document["exit_code"] == 0
    assert document["result"]["status_code"] == 202
    assert counting_function.wait_for_count(1) == 1


# ------------------------------------------------------------------------------------------------
# Deferred from a worker (mapped tasks, ...): the trigger ends the task itself.


@pytest.fixture
def stored_xcoms(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the trigger stores through the Task SDK's XCom (no supervisor here to relay it)."""
    from airflow.sdk.execution_time.xcom import XCom

    stored: list[dict[str, Any]] = []

    def record(cls: Any, key: str, value: Any, **where: Any) -> None:
        stored.append({key: value, **where})

    monkeypatch.setattr(XCom, "set", classmethod(record))
    return stored


def deferred_trigger(op: LambdaInvokeOperator) -> tuple[LambdaInvokeTrigger, Any]:
    """The trigger ``execute`` defers to, rebuilt from JSON kwargs, with a trigger id as in a triggerer."""
    from airflow.sdk.exceptions import TaskDeferred

    op.start_from_trigger = False
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": FakeTaskInstance()})
    classpath, kwargs = deferred.value.trigger.serialize()
    module, _, name = classpath.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))
    trigger.trigger_id = 1
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id=op.task_id, run_id="r", map_index=3)
    return trigger, deferred.value


def test_a_task_deferred_from_a_worker_ends_in_the_triggerer_with_its_document(
    local_lambda: LocalLambda, stored_xcoms: list[dict[str, Any]]
) -> None:
    from airflow.triggers.base import TaskSuccessEvent

    name = new_function(local_lambda, "sft-end", ECHO_HANDLER)
    op = operator(
        function_name=name, payload={"n": 1}, endpoint_url=local_lambda.url, start_from_trigger=False
    )
    trigger, _ = deferred_trigger(op)

    event = asyncio.run(anext(trigger.run()))
    assert isinstance(event, TaskSuccessEvent)
    assert len(stored_xcoms) == 2
    document = stored_xcoms[0].pop("return_value")
    assert stored_xcoms[0] == {"dag_id": "d", "task_id": "invoke", "run_id": "r", "map_index": 3}
    # The function's answer as data too, as the worker would push it.
    assert stored_xcoms[1].pop("answer") == {"n": 1}
    assert stored_xcoms[1] == stored_xcoms[0]
    assert document["exit_code"] == 0
    assert json.loads(document["result"]["payload"]) == {"n": 1}
    # The same document the worker would have built from a resumed event.
    sync = operator(function_name=name, payload={"n": 1}, endpoint_url=local_lambda.url, deferrable=False)
    expected = sync.execute({"ti": FakeTaskInstance()})
    assert set(document) == set(expected)
    assert document["invocation"] == expected["invocation"]


@pytest.mark.parametrize(("retries", "ends_here"), [(0, True), (2, False)])
def test_a_failure_ends_in_the_triggerer_only_without_retries(
    local_lambda: LocalLambda, stored_xcoms: list[dict[str, Any]], retries: int, ends_here: bool
) -> None:
    from airflow.triggers.base import TaskFailedEvent

    from tests.support.local_lambda import RAISE_HANDLER

    name = new_function(local_lambda, "sft-fail", RAISE_HANDLER)
    op = operator(
        function_name=name, payload={"message": "boom"}, endpoint_url=local_lambda.url, retries=retries
    )
    trigger, deferred = deferred_trigger(op)

    event = asyncio.run(anext(trigger.run()))
    if ends_here:
        assert isinstance(event, TaskFailedEvent)
        assert stored_xcoms[0]["return_value"]["exit_code"] == 1
        assert stored_xcoms[0]["return_value"]["result"]["function_error"] == "Unhandled"
    else:
        # Resumes on the worker, which raises the contract's exception (and Airflow retries).
        from airflow_provider_lambda_ue.exceptions import LambdaFunctionError

        assert not isinstance(event, TaskFailedEvent)
        assert stored_xcoms == []
        ti = FakeTaskInstance()
        with raises(LambdaFunctionError):
            getattr(op, deferred.method_name)({"ti": ti}, event=event.payload)
        assert ti.xcom["return_value"]["exit_code"] == 1


def test_outside_a_triggerer_the_task_resumes_on_the_worker(local_lambda: LocalLambda) -> None:
    name = new_function(local_lambda, "sft-inline", ECHO_HANDLER)
    op = operator(function_name=name, endpoint_url=local_lambda.url)
    trigger, _ = deferred_trigger(op)
    trigger.trigger_id = None  # airflow dags test runs triggers in line, without a trigger row

    event = event_of(trigger)
    assert event["status"] == "success"


def test_a_triggerer_that_cannot_store_the_document_leaves_the_task_to_the_worker(
    local_lambda: LocalLambda,
) -> None:
    name = new_function(local_lambda, "sft-nostore", ECHO_HANDLER)
    op = operator(function_name=name, endpoint_url=local_lambda.url)
    trigger, _ = deferred_trigger(op)  # no supervisor here: XCom.set fails

    event = event_of(trigger)
    assert event["status"] == "success"
