"""Issue 14: durable execution names, generations and their validation (no server)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from airflow_provider_lambda_ue.durable import (
    DurableExecution,
    derive_execution_name,
    generation_name,
    next_poll_delay,
    with_execution,
)
from airflow_provider_lambda_ue.exceptions import LambdaDataValidationError
from airflow_provider_lambda_ue.fields import raw_fields
from airflow_provider_lambda_ue.output import InvokeResult
from airflow_provider_lambda_ue.validation import validate
from tests.support.document_shape import RESULT_KEYS
from tests.support.failures import raises

NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def fields(**extra: object) -> dict[str, Any]:
    return raw_fields(function_name="fn", aws_conn_id=None, **extra)


@pytest.mark.parametrize(
    ("dag_id", "run_id", "task_id", "map_index"),
    [
        ("etl", "manual__2026-12-01T12:00:00+00:00", "invoke", -1),
        ("d" * 250, "r" * 250, "group.sub.task" * 20, 12345),
        ("日本語", "run", "tâche", None),
        ("...", "run", "---", 0),
    ],
)
def test_derived_names_are_valid_with_room_for_every_generation(
    dag_id: str, run_id: str, task_id: str, map_index: int | None
) -> None:
    name = derive_execution_name(dag_id, run_id, task_id, map_index)
    assert NAME.fullmatch(name)
    assert len(name) <= 59
    for generation in (1, 2, 999):
        assert NAME.fullmatch(generation_name(name, generation))
    assert generation_name(name, 999).endswith("-r999")


def test_derived_names_are_try_independent_and_unique_per_task_instance() -> None:
    base = ("etl", "run-1", "invoke", -1)
    assert derive_execution_name(*base) == derive_execution_name(*base)
    assert derive_execution_name(*base).startswith("etl-invoke-")
    others = [("etl", "run-2", "invoke", -1), ("etl", "run-1", "other", -1), ("etl", "run-1", "invoke", 0)]
    names = {derive_execution_name(*other) for other in others} | {derive_execution_name(*base)}
    assert len(names) == 4
    # A missing map index is the unmapped task's -1.
    assert derive_execution_name("etl", "run-1", "invoke", None) == derive_execution_name(*base)


def test_generation_names() -> None:
    assert generation_name("order-1", 1) == "order-1"
    assert generation_name("order-1", 2) == "order-1-r2"
    long = "x" * 64
    assert generation_name(long, 2) == "x" * 61 + "-r2"
    assert len(generation_name(long, 10)) == 64


def test_poll_delay_grows_to_the_interval() -> None:
    delays = []
    delay = None
    for _ in range(8):
        delay = next_poll_delay(delay, 10.0)
        delays.append(delay)
    assert delays[0] == 0.5
    assert delays == sorted(delays)
    assert delays[-1] == 10.0


@pytest.mark.parametrize("name", ["order-42", "a", "A_b-9", "x" * 64])
def test_valid_names_and_event_by_default(name: str) -> None:
    request = validate(fields(durable_execution_name=name))
    assert request.durable_execution_name == name
    assert request.invocation_type == "Event"
    assert request.invoke_kwargs()["DurableExecutionName"] == name
    assert request.invoke_kwargs("other-r2")["DurableExecutionName"] == "other-r2"


def test_plain_requests_stay_request_response_without_a_name() -> None:
    request = validate(fields())
    assert request.invocation_type == "RequestResponse"
    assert not request.durable
    assert "DurableExecutionName" not in request.invoke_kwargs()
    assert validate(fields(durable_execution_name="  ")).durable_execution_name is None


def test_request_response_stays_available() -> None:
    request = validate(fields(durable_execution_name="n", invocation_type="Request Response"))
    assert request.invocation_type == "RequestResponse"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x" * 65, "longer than 64"),
        # AWS's pattern for DurableExecutionName, read from botocore's model.
        ("order.42", "is not a valid DurableExecutionName"),
        ("grün", "is not a valid DurableExecutionName"),
        ("auto", "only the operator has"),
        ([42], "must be text"),
    ],
)
def test_invalid_names_are_exit_20_naming_the_field(value: object, message: str) -> None:
    with raises(LambdaDataValidationError) as raised:
        validate(fields(durable_execution_name=value, payload="not json"))
    problems = raised.value.problems
    assert any(p.startswith("durable_execution_name:") and message in p for p in problems)
    assert any(p.startswith("payload:") for p in problems)  # every problem, not only the first


def test_dry_run_cannot_start_a_durable_execution() -> None:
    with raises(LambdaDataValidationError) as raised:
        validate(fields(durable_execution_name="n", invocation_type="DryRun"))
    assert any(p.startswith("invocation_type:") for p in raised.value.problems)


def test_with_execution_puts_the_outcome_in_the_seed_places() -> None:
    start = InvokeResult(status_code=202, request_id="req-1", durable_execution_arn="arn:1")
    done = with_execution(
        start, DurableExecution(arn="arn:1", name="n", status="SUCCEEDED", result='{"a": 1}')
    )
    assert done.to_dict() == {
        "status_code": 202,
        "log_result": None,
        "payload": '{"a": 1}',
        "executed_version": None,
        "function_error": None,
        "request_id": "req-1",
        "durable_execution_arn": "arn:1",
        "durable_execution_name": "n",
        "durable_execution_status": "SUCCEEDED",
    }
    error = {"ErrorType": "ValueError", "ErrorMessage": "boom", "StackTrace": ["line"]}
    failed = with_execution(start, DurableExecution(arn="arn:1", name="n", status="FAILED", error=error))
    assert failed.function_error == "Unhandled"
    assert json.loads(failed.payload or "") == {
        "errorType": "ValueError",
        "errorMessage": "boom",
        "stackTrace": ["line"],
    }
    stopped = with_execution(start, DurableExecution(arn="arn:1", status="STOPPED"))
    assert stopped.function_error is None
    assert json.loads(stopped.payload or "")["errorType"] == "STOPPED"
    assert InvokeResult.from_dict(failed.to_dict()) == failed


def test_plain_results_keep_the_seed_section() -> None:
    assert list(InvokeResult(status_code=200).to_dict()) == list(RESULT_KEYS)


def test_work_survives_repeated_cancellations() -> None:
    """Airflow 3.1 cancels a trigger again on every loop: the stop must still run to its end."""
    import asyncio

    from airflow_provider_lambda_ue.triggers.durable_execution import _despite_cancellation

    steps: list[str] = []

    async def stop() -> None:
        steps.append("check")
        await asyncio.sleep(0.2)
        steps.append("stopped")

    async def cancelled_handler() -> None:
        await _despite_cancellation(stop())

    async def main() -> None:
        handler = asyncio.ensure_future(cancelled_handler())
        for _ in range(3):
            await asyncio.sleep(0.05)
            handler.cancel()
        await handler

    asyncio.run(main())
    assert steps == ["check", "stopped"]
