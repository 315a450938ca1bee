"""Unit tests of ``fetch_full_log``'s fields, options and pure helpers (no server, no subprocess).

The reading itself runs against moto's Logs API in ``tests/wire/test_full_log.py``; the local
endpoint's log layout against its own CloudWatch Logs in ``tests/wire/test_local_lambda_logs.py``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_lambda_ue.exceptions import (
    LambdaDataValidationError,
    LambdaFailError,
    LambdaFullLogError,
    exception_for_exit_code,
    public,
)
from airflow_provider_lambda_ue.fields import DEFAULT_FULL_LOG_TIMEOUT_SECONDS, raw_fields
from airflow_provider_lambda_ue.fulllog import (
    MAX_EVENTS,
    _ends_invocation,
    _starts_invocation,
)
from airflow_provider_lambda_ue.request import InvokeRequest
from airflow_provider_lambda_ue.testing.local_lambda import cloudwatch
from airflow_provider_lambda_ue.testing.local_lambda.invocation import InvocationRequest, InvocationResult
from airflow_provider_lambda_ue.validation import validate
from tests.support.command_line import fields_of
from tests.support.failures import is_failure, raises

RID = "8fc6f963-411b-58b5-8483-a32130c0f45d"


def make(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("function_name", "my-function")
    return raw_fields(**kwargs)


def problems(**kwargs: Any) -> str:
    with raises(LambdaDataValidationError) as info:
        validate(make(**kwargs))
    return info.value.status_description


# -- fields and validation -------------------------------------------------------------------------


def test_defaults_read_nothing() -> None:
    request = validate(make())
    assert (request.fetch_full_log, request.full_log_required) == (False, False)
    assert request.full_log_timeout == DEFAULT_FULL_LOG_TIMEOUT_SECONDS == 300
    assert request.logs_endpoint_url is None


def test_template_strings_are_accepted() -> None:
    request = validate(
        make(fetch_full_log="true", full_log_timeout="45", logs_endpoint_url=" https://logs.example.com ")
    )
    assert request.fetch_full_log is True
    assert request.full_log_timeout == 45
    assert request.logs_endpoint_url == "https://logs.example.com"
    # A blank template is the default, not an error.
    assert validate(make(full_log_timeout="")).full_log_timeout == 300


def test_requiring_the_log_reads_it() -> None:
    request = validate(make(full_log_required=True))
    assert (request.fetch_full_log, request.full_log_required) == (True, True)


def test_bad_values_are_named_together() -> None:
    text = problems(
        fetch_full_log="maybe",
        full_log_required="sometimes",
        full_log_timeout="0",
        logs_endpoint_url="ftp://logs.example.com",
    )
    assert "fetch_full_log:" in text
    assert "full_log_required:" in text
    assert "full_log_timeout: must be at least 1 second" in text
    assert "logs_endpoint_url: 'ftp://logs.example.com' must have an http or https scheme" in text
    assert "endpoint_url: " not in text.replace("logs_endpoint_url: ", "")


def test_logs_endpoint_credentials_never_show() -> None:
    text = problems(logs_endpoint_url="https://someone:Pa55w0rd@logs.example.com")
    assert "logs_endpoint_url: must not carry credentials" in text
    assert "Pa55w0rd" not in text


def test_request_round_trips_through_a_trigger() -> None:
    request = validate(make(fetch_full_log=True, full_log_timeout=30, logs_endpoint_url="http://127.0.0.1:9"))
    assert type(request)(**json.loads(json.dumps(request.values()))) == request


def test_full_log_error_is_a_fail_that_airflow_does_not_retry() -> None:
    from airflow_provider_lambda_ue.compat import AirflowFailException

    error = LambdaFullLogError("the function ran, but its complete log could not be read: x")
    assert is_failure(error, LambdaFailError)
    assert isinstance(public(error), AirflowFailException)
    assert (error.exit_code, error.status) == (1, "FAIL")
    assert error.status_description.startswith("FAIL: the function ran")
    assert exception_for_exit_code(1) is LambdaFailError


# -- the command line --------------------------------------------------------------------------------


def test_cli_options() -> None:
    fields = fields_of(
        "invoke",
        "--function-name", "f",
        "--fetch-full-log",
        "--full-log-timeout", "30",
        "--logs-endpoint-url", "http://127.0.0.1:4566",
    )  # fmt: skip
    assert (fields["fetch_full_log"], fields["full_log_required"]) == (True, False)
    assert (fields["full_log_timeout"], fields["logs_endpoint_url"]) == ("30", "http://127.0.0.1:4566")
    required = fields_of("invoke", "--function-name", "f", "--full-log-required")
    assert validate(required).fetch_full_log is True


# -- the reader's helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("my-function", "/aws/lambda/my-function"),
        ("my-function:prod", "/aws/lambda/my-function"),
        ("123456789012:function:my-function", "/aws/lambda/my-function"),
        ("arn:aws:lambda:eu-west-1:123456789012:function:my-function:7", "/aws/lambda/my-function"),
    ],
)
def test_default_log_group(name: str, group: str) -> None:
    assert InvokeRequest(function_name=name).function.log_group == group


def test_start_and_end_of_an_invocation() -> None:
    assert _starts_invocation(f"START RequestId: {RID} Version: $LATEST", RID)
    assert not _starts_invocation(f"START RequestId: {RID[:-1]}0 Version: $LATEST", RID)
    start = json.dumps(
        {"time": "t", "type": "platform.start", "record": {"requestId": RID}}, separators=(",", ":")
    )
    assert _starts_invocation(start, RID)
    assert _ends_invocation(f"REPORT RequestId: {RID}\tDuration: 1.00 ms\t", RID)
    assert not _ends_invocation(f"END RequestId: {RID}", RID)  # REPORT follows it
    report = json.dumps({"time": "t", "type": "platform.report", "record": {"requestId": RID}})
    assert _ends_invocation(report, RID)
    other = json.dumps(
        {"time": "t", "type": "platform.report", "record": {"requestId": "other"}, "note": RID}
    )
    assert not _ends_invocation(other, RID)
    # An application line that merely mentions the record type is no end.
    assert not _ends_invocation(f'{{"message": "platform.report {RID}"}}', RID)
    assert MAX_EVENTS == 100_000


# -- the local endpoint's log layout (pure formatting) ---------------------------------------------


def _request(**kwargs: Any) -> InvocationRequest:
    values: dict[str, Any] = {
        "request_id": RID,
        "function_name": "fn",
        "version": "$LATEST",
        "handler": "handler.handler",
        "code": b"",
        "code_sha256": "0",
        "event": "{}",
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
        "runtime": "python3.11",
    }
    values.update(kwargs)
    return InvocationRequest(**values)


def _result(**kwargs: Any) -> InvocationResult:
    values: dict[str, Any] = {
        "payload": b"{}",
        "function_error": None,
        "log": b"",
        "duration_ms": 12.5,
        "init_duration_ms": 80.0,
        "output": b"one\ntwo\n",
        "max_rss_kb": 20480,
    }
    values.update(kwargs)
    return InvocationResult(**values)


def test_text_layout_cold_and_warm() -> None:
    cold = cloudwatch.invocation_log(_request(), _result(), log_format="Text", cold=True, ended_ms=1_000_000)
    messages = [message for _, message in cold]
    assert messages[0].startswith("INIT_START Runtime Version: python:3.11")
    assert messages[1:5] == [
        f"START RequestId: {RID} Version: $LATEST",
        "one",
        "two",
        f"END RequestId: {RID}",
    ]
    assert messages[5] == (
        f"REPORT RequestId: {RID}\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 20 MB\tInit Duration: 80.00 ms\t"
    )
    stamps = [stamp for stamp, _ in cold]
    assert stamps == sorted(stamps) and stamps[-1] == 1_000_000
    warm = cloudwatch.invocation_log(_request(), _result(), log_format="Text", cold=False, ended_ms=1_000_000)
    assert not warm[0][1].startswith("INIT_START") and "Init Duration" not in warm[-1][1]
    # The tail starts at START: INIT_START belongs to no invocation.
    assert cloudwatch.log_bytes(cold, cold=True).startswith(b"START RequestId: ")


def test_json_layout_with_a_tenant() -> None:
    events = cloudwatch.invocation_log(
        _request(tenant_id="blue"), _result(timed_out=True), log_format="JSON", cold=False, ended_ms=5_000
    )
    records = [json.loads(message) for _, message in events]
    assert records[0] == {
        "time": "1970-01-01T00:00:04.987Z",
        "type": "platform.start",
        "record": {
            "requestId": RID,
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
            "version": "$LATEST",
            "tenantId": "blue",
        },
    }
    assert records[1] == {
        "timestamp": "1970-01-01T00:00:04.987Z",
        "level": "INFO",
        "requestId": RID,
        "tenantId": "blue",
        "message": "one",
    }
    assert records[-1]["type"] == "platform.report"
    assert records[-1]["record"]["status"] == "timeout"
    assert "initDurationMs" not in records[-1]["record"]["metrics"]
    # Compact, as Lambda writes them.
    assert '": ' not in events[0][1] and '", "' not in events[0][1]


def test_trigger_event_says_when_invoke_was_sent() -> None:
    """The worker searches the complete log from when the triggerer sent Invoke, not from its own start."""
    from airflow_provider_lambda_ue.invocation import Invocation, complete
    from airflow_provider_lambda_ue.output import InvokeResult
    from airflow_provider_lambda_ue.triggers import events

    raw = make(fetch_full_log=True)
    current = Invocation(raw=raw, request=validate(raw))
    event = {
        "status": "success",
        "result": InvokeResult(status_code=200, request_id=RID).to_dict(),
        "started_ms": 123,
    }
    # Without a hook nothing is read: only the document and the start time.
    assert complete(current, events.read(event), logging.getLogger("tests.full_log_unit"))["exit_code"] == 0
    assert current.started_ms == 123
