"""Durable functions on the local Lambda endpoint, run by AWS's durable SDK and its local runner.

Everything is called with plain boto3 against ``127.0.0.1``. The handlers (``tests/handlers/
durable_*.py``) append one line to their ``COUNT_FILE`` each time a step really runs, so a count of
1 means the work ran once, however often the execution was started or replayed.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support.durable import DurableFunction, create_durable_function
from tests.support.local_lambda import new_function, wait_for_count

pytest.importorskip(
    "aws_durable_execution_sdk_python_testing",
    reason="AWS's durable SDKs need Python >= 3.11 (the test extra installs them there)",
)

REGION = "us-east-1"
CLOSED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED")


def plain_boto3_lambda(url: str) -> Any:
    """Lambda client built with boto3 only (no helper of the module under test)."""
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=300, proxies={}),
    )


@pytest.fixture(scope="module")
def client(local_lambda: LocalLambda) -> Any:
    """Plain boto3 Lambda client of the shared endpoint."""
    return plain_boto3_lambda(local_lambda.url)


@pytest.fixture
def durable_function(
    local_lambda: LocalLambda, client: Any, tmp_path: Path
) -> Callable[..., DurableFunction]:
    """``(handler_stem, execution_timeout=300) -> DurableFunction``, created through ``client``."""
    return functools.partial(create_durable_function, local_lambda, tmp_path, client=client)


def start(client: Any, function: DurableFunction, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """An asynchronous durable invoke of ``function`` named ``name``."""
    response: dict[str, Any] = client.invoke(
        FunctionName=function.name,
        InvocationType="Event",
        DurableExecutionName=name,
        Payload=json.dumps(payload).encode(),
    )
    return response


def wait_closed(client: Any, arn: str, timeout: float = 120.0) -> dict[str, Any]:
    """Poll ``GetDurableExecution`` until the execution is no longer RUNNING (or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while True:
        execution: dict[str, Any] = client.get_durable_execution(DurableExecutionArn=arn)
        if execution["Status"] != "RUNNING" or time.monotonic() >= deadline:
            return execution
        time.sleep(0.1)


def listed(client: Any, function: DurableFunction, **filters: Any) -> list[tuple[str, str]]:
    """``(DurableExecutionName, Status)`` of the function's executions matching ``filters``."""
    response = client.list_durable_executions_by_function(FunctionName=function.name, **filters)
    return sorted((item["DurableExecutionName"], item["Status"]) for item in response["DurableExecutions"])


def assert_ran_once(client: Any, function: DurableFunction, name: str, status: str) -> None:
    """The function's one execution named ``name`` has ``status``, and its step ran once."""
    assert listed(client, function, DurableExecutionName=name) == [(name, status)]
    assert function.count == 1


def test_create_function_keeps_durable_config(
    client: Any, durable_function: Callable[..., DurableFunction], local_lambda: LocalLambda
) -> None:
    """``DurableConfig`` is kept and reported, as Lambda does; a plain function has none."""
    function = durable_function("durable_step_wait", execution_timeout=120)
    expected = {"ExecutionTimeout": 120, "RetentionPeriodInDays": 1}
    assert function.create_response["DurableConfig"] == expected
    assert client.get_function_configuration(FunctionName=function.name)["DurableConfig"] == expected
    assert client.get_function(FunctionName=function.name)["Configuration"]["DurableConfig"] == expected

    plain = new_function(local_lambda, "plain", "def handler(event, context):\n    return event\n")
    assert "DurableConfig" not in client.get_function_configuration(FunctionName=plain)


def test_event_invoke_runs_to_succeeded_with_the_result(
    client: Any, durable_function: Callable[..., DurableFunction]
) -> None:
    """Event answers 202 with the ARN; the execution is RUNNING during its wait, then SUCCEEDED."""
    function = durable_function("durable_step_wait")
    response = start(client, function, "order-1", {"value": 21, "wait_seconds": 3})
    assert response["StatusCode"] == 202
    arn = response["DurableExecutionArn"]
    assert arn

    running = client.get_durable_execution(DurableExecutionArn=arn)
    assert running["Status"] == "RUNNING"
    assert running["DurableExecutionName"] == "order-1"
    assert json.loads(running["InputPayload"]) == {"value": 21, "wait_seconds": 3}
    assert running["FunctionArn"].endswith(f":function:{function.name}:$LATEST")

    done = wait_closed(client, arn)
    assert done["Status"] == "SUCCEEDED"
    assert json.loads(done["Result"]) == {"doubled": 42, "event": {"value": 21, "wait_seconds": 3}}
    assert "Error" not in done
    assert done["EndTimestamp"] >= done["StartTimestamp"]
    assert function.count == 1


def test_same_name_and_payload_returns_the_same_execution(
    client: Any, durable_function: Callable[..., DurableFunction]
) -> None:
    """A second start with the name and payload, running or closed, is the same execution: one run."""
    function = durable_function("durable_step_wait")
    payload = {"value": 5, "wait_seconds": 2}
    arn = start(client, function, "same-name", payload)["DurableExecutionArn"]
    # Key order and spacing of the payload do not make it another one.
    again = client.invoke(
        FunctionName=function.name,
        InvocationType="Event",
        DurableExecutionName="same-name",
        Payload=b'{"wait_seconds":2,   "value":5}',
    )
    assert again["DurableExecutionArn"] == arn

    assert wait_closed(client, arn)["Status"] == "SUCCEEDED"
    after_close = start(client, function, "same-name", payload)
    assert after_close["StatusCode"] == 202
    assert after_close["DurableExecutionArn"] == arn
    assert wait_closed(client, arn)["Status"] == "SUCCEEDED"

    assert_ran_once(client, function, "same-name", "SUCCEEDED")


def test_same_name_with_another_payload_is_a_409(
    client: Any, durable_function: Callable[..., DurableFunction]
) -> None:
    """Another payload under a used name is ``DurableExecutionAlreadyStartedException`` (409)."""
    function = durable_function("durable_step_wait")
    arn = start(client, function, "taken", {"value": 1})["DurableExecutionArn"]
    with pytest.raises(ClientError) as raised:
        start(client, function, "taken", {"value": 2})
    error = raised.value.response
    assert error["Error"]["Code"] == "DurableExecutionAlreadyStartedException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert isinstance(raised.value, client.exceptions.DurableExecutionAlreadyStartedException)

    assert wait_closed(client, arn)["Status"] == "SUCCEEDED"
    with pytest.raises(client.exceptions.DurableExecutionAlreadyStartedException):
        start(client, function, "taken", {"value": 3})
    assert_ran_once(client, function, "taken", "SUCCEEDED")


def test_raising_handler_ends_failed_with_the_error(
    client: Any, durable_function: Callable[..., DurableFunction]
) -> None:
    """A handler that raises ends its execution FAILED, with the exception as ``Error``."""
    function = durable_function("durable_raise")
    arn = start(client, function, "will-fail", {"reason": "out of stock"})["DurableExecutionArn"]
    done = wait_closed(client, arn)
    assert done["Status"] == "FAILED"
    assert done["Error"]["ErrorType"] == "ValueError"
    assert done["Error"]["ErrorMessage"] == "durable handler failed: out of stock"
    assert "Result" not in done
    assert function.count == 1


def test_stop_stops_a_running_execution(
    client: Any, durable_function: Callable[..., DurableFunction]
) -> None:
    """``StopDurableExecution`` ends a waiting execution STOPPED; it never resumes."""
    function = durable_function("durable_long_wait")
    arn = start(client, function, "to-stop", {"wait_seconds": 600})["DurableExecutionArn"]
    assert wait_for_count(function.count_file, 1) == 1
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "RUNNING"

    stopped = client.stop_durable_execution(
        DurableExecutionArn=arn, Error={"ErrorType": "Airflow", "ErrorMessage": "task marked failed"}
    )
    assert stopped["StopTimestamp"]
    execution = client.get_durable_execution(DurableExecutionArn=arn)
    assert execution["Status"] == "STOPPED"
    assert execution["Error"]["ErrorMessage"] == "task marked failed"
    assert_ran_once(client, function, "to-stop", "STOPPED")


def test_execution_timeout_ends_timed_out(
    client: Any, durable_function: Callable[..., DurableFunction]
) -> None:
    """A wait longer than ``DurableConfig.ExecutionTimeout`` ends the execution TIMED_OUT."""
    function = durable_function("durable_long_wait", execution_timeout=5)
    arn = start(client, function, "too-long", {"wait_seconds": 600})["DurableExecutionArn"]
    done = wait_closed(client, arn)
    assert done["Status"] == "TIMED_OUT"
    # The timeout runs from the start: on a loaded machine it may end the execution before the
    # handler's first invocation reaches its step, so the step ran once or not at all.
    assert function.count <= 1
    assert listed(client, function, Statuses=["TIMED_OUT"]) == [("too-long", "TIMED_OUT")]


def test_list_filters_by_name_and_status(
    client: Any, durable_function: Callable[..., DurableFunction]
) -> None:
    """``ListDurableExecutionsByFunction`` filters by ``DurableExecutionName`` and ``Statuses``."""
    function = durable_function("durable_long_wait")
    short = start(client, function, "short", {"wait_seconds": 1})["DurableExecutionArn"]
    long = start(client, function, "long", {"wait_seconds": 600})["DurableExecutionArn"]
    assert wait_closed(client, short)["Status"] == "SUCCEEDED"
    assert wait_for_count(function.count_file, 2) == 2

    assert listed(client, function) == [("long", "RUNNING"), ("short", "SUCCEEDED")]
    assert listed(client, function, DurableExecutionName="short") == [("short", "SUCCEEDED")]
    assert listed(client, function, Statuses=["RUNNING"]) == [("long", "RUNNING")]
    assert listed(client, function, Statuses=["SUCCEEDED"]) == [("short", "SUCCEEDED")]
    assert listed(client, function, Statuses=["FAILED", "RUNNING"]) == [("long", "RUNNING")]
    assert listed(client, function, DurableExecutionName="long", Statuses=["SUCCEEDED"]) == []

    client.stop_durable_execution(DurableExecutionArn=long)
    assert listed(client, function, Statuses=["STOPPED", "SUCCEEDED"]) == [
        ("long", "STOPPED"),
        ("short", "SUCCEEDED"),
    ]
    assert function.count == 2


def test_request_response_invoke_waits_for_the_result(
    client: Any, durable_function: Callable[..., DurableFunction]
) -> None:
    """RequestResponse waits for the execution and answers its result; again, the same one."""
    function = durable_function("durable_step_wait")
    payload = json.dumps({"value": 4}).encode()
    first = client.invoke(FunctionName=function.name, DurableExecutionName="sync-1", Payload=payload)
    assert first["StatusCode"] == 200
    assert "FunctionError" not in first
    assert json.loads(first["Payload"].read()) == {"doubled": 8, "event": {"value": 4}}
    arn = first["DurableExecutionArn"]
    assert client.get_durable_execution(DurableExecutionArn=arn)["Status"] == "SUCCEEDED"

    second = client.invoke(FunctionName=function.name, DurableExecutionName="sync-1", Payload=payload)
    assert second["DurableExecutionArn"] == arn
    assert json.loads(second["Payload"].read()) == {"doubled": 8, "event": {"value": 4}}
    assert function.count == 1


def test_request_response_invoke_of_a_failing_execution(
    client: Any, durable_function: Callable[..., DurableFunction]
) -> None:
    """RequestResponse of a failing execution answers its error as an unhandled function error."""
    function = durable_function("durable_raise")
    response = client.invoke(
        FunctionName=function.name, DurableExecutionName="sync-fail", Payload=b'{"reason": "no"}'
    )
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "durable handler failed: no"
    execution = client.get_durable_execution(DurableExecutionArn=response["DurableExecutionArn"])
    assert execution["Status"] == "FAILED"
    assert function.count == 1


def test_durable_invoke_of_a_published_version(
    client: Any, durable_function: Callable[..., DurableFunction]
) -> None:
    """A qualified durable invoke runs that version, and the execution reports it."""
    function = durable_function("durable_step_wait")
    version = client.publish_version(FunctionName=function.name)["Version"]
    assert client.get_function_configuration(FunctionName=function.name, Qualifier=version)["DurableConfig"]
    response = client.invoke(
        FunctionName=function.name,
        Qualifier=version,
        DurableExecutionName="versioned",
        Payload=b'{"value": 3}',
    )
    assert response["ExecutedVersion"] == version
    assert json.loads(response["Payload"].read()) == {"doubled": 6, "event": {"value": 3}}
    execution = client.get_durable_execution(DurableExecutionArn=response["DurableExecutionArn"])
    assert execution["Version"] == version
    assert execution["FunctionArn"].endswith(f":function:{function.name}:{version}")
    assert function.count == 1


def test_invoke_without_a_name_starts_a_new_execution_each_time(
    client: Any, durable_function: Callable[..., DurableFunction]
) -> None:
    """Without ``DurableExecutionName`` every invoke is a new execution with a generated name."""
    function = durable_function("durable_step_wait")
    arns = [
        client.invoke(FunctionName=function.name, InvocationType="Event", Payload=b"{}")[
            "DurableExecutionArn"
        ]
        for _ in range(2)
    ]
    assert arns[0] != arns[1]
    assert [wait_closed(client, arn)["Status"] for arn in arns] == ["SUCCEEDED", "SUCCEEDED"]
    assert function.count == 2


def test_bad_execution_name_and_unknown_execution(
    client: Any, durable_function: Callable[..., DurableFunction]
) -> None:
    """A name outside ``[a-zA-Z0-9_-]{1,64}`` is a 400; an unknown ARN is ResourceNotFound."""
    function = durable_function("durable_step_wait")
    for bad in ("has space", "x" * 65):
        with pytest.raises(client.exceptions.InvalidParameterValueException):
            start(client, function, bad, {})
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_durable_execution(DurableExecutionArn="no-such/execution")
    assert function.count == 0


@pytest.fixture
def fresh_server() -> Iterator[LocalLambda]:
    """An endpoint of its own, to watch when its durable runner starts."""
    with LocalLambda() as server:
        yield server


def _listening_ports(pid: int) -> set[int]:
    return {
        conn.laddr.port
        for conn in psutil.Process(pid).net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN
    }


def test_durable_runner_starts_with_the_first_durable_request(fresh_server: LocalLambda) -> None:
    """Plain invocations leave the runner unstarted (no second listening port); a durable call starts it."""
    assert fresh_server.pid is not None
    client = plain_boto3_lambda(fresh_server.url)
    fresh_server.create_function("plain", "def handler(event, context):\n    return event\n")
    assert json.loads(client.invoke(FunctionName="plain", Payload=b'{"a": 1}')["Payload"].read()) == {"a": 1}
    assert _listening_ports(fresh_server.pid) == {fresh_server.port}

    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_durable_execution(DurableExecutionArn="no-such/execution")
    ports = _listening_ports(fresh_server.pid)
    assert fresh_server.port in ports
    assert len(ports) == 2
