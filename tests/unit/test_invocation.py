"""Unit tests of :mod:`airflow_provider_lambda_ue.invocation` without a network: prepare, finish,
complete and describe_function_error, fed with :class:`InvokeResult` values and trigger events.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from airflow_provider_lambda_ue import __version__, exceptions
from airflow_provider_lambda_ue.exceptions import public
from airflow_provider_lambda_ue.fields import raw_fields
from airflow_provider_lambda_ue.finish import describe_function_error, finish
from airflow_provider_lambda_ue.invocation import Invocation, prepare
from airflow_provider_lambda_ue.invocation import complete as complete_event
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.output import STATUS_DECODE_WARNING, STATUS_SUCCESS, InvokeResult
from airflow_provider_lambda_ue.triggers import events
from tests.support.document_shape import DOCUMENT_KEYS, FIELD_KEYS, RESULT_KEYS
from tests.support.failures import is_failure, raises

LOGGER_NAME = "tests.invocation"


def complete(invocation: Invocation, event: dict[str, Any], log: Any) -> dict[str, Any]:
    """:func:`complete` of a trigger's event as Airflow hands it to the worker (its payload)."""
    return complete_event(invocation, events.read(event), log)


def error_event(error: InvocationFailure) -> dict[str, Any]:
    """A trigger's event for ``error``."""
    return events.payload(events.Failed.of(error, None, None))


log = logging.getLogger(LOGGER_NAME)

PROXY_URL = "http://127.0.0.1:3128"
ERROR_PAYLOAD = json.dumps(
    {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": ["  File handler.py, line 3"]}
)


@pytest.fixture
def caplog_info(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    return caplog


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def messages(caplog: pytest.LogCaptureFixture, level: int | None = None) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER_NAME and (level is None or r.levelno == level)
    ]


def invocation_for(**kwargs: Any) -> Invocation:
    kwargs.setdefault("function_name", "my-function")
    return prepare(raw_fields(**kwargs), log)


def assert_document(document: dict[str, Any]) -> None:
    assert set(document) == set(DOCUMENT_KEYS)
    assert set(document["invocation"]) == {"extension", "version", "fields"}
    assert document["invocation"]["extension"] == "airflow-provider-lambda-ue"
    assert document["invocation"]["version"] == __version__
    assert set(document["invocation"]["fields"]) == set(FIELD_KEYS)
    assert set(document["result"]) == set(RESULT_KEYS)
    json.dumps(document)


# --------------------------------------------------------------------------------------------------
# prepare


def test_prepare_returns_the_validated_request() -> None:
    invocation = invocation_for(invocation_type="Request_Response", wait_for_completion_timeout="90")
    assert invocation.request is not None
    assert invocation.request.invocation_type == "RequestResponse"
    assert invocation.request.wait_for_completion_timeout == 90
    assert invocation.credentials_set is None
    assert invocation.proxy_credentials_set is None


def test_prepare_with_bad_fields_raises_with_a_full_document() -> None:
    raw = raw_fields(
        function_name="not a function",
        invocation_type="Sometimes",
        payload="{not json",
        wait_for_completion_timeout=0,
    )
    with raises(exceptions.LambdaDataValidationError) as info:
        prepare(raw, log)
    error = info.value
    assert error.exit_code == 20
    assert error.status_description.startswith(
        "DATA_VALIDATION_ERROR: Some of the input fields cannot be validated."
    )
    assert {p.split(":")[0] for p in error.problems} == {
        "function_name",
        "invocation_type",
        "payload",
        "wait_for_completion_timeout",
    }
    document = error.output
    assert document is not None
    assert_document(document)
    assert document["exit_code"] == 20
    assert document["status_description"] == error.status_description
    assert document["changed"] is False
    assert document["result"] == dict.fromkeys(RESULT_KEYS)
    fields = document["invocation"]["fields"]
    assert fields["function_name"] == "not a function"
    assert fields["invocation_type"] == "Sometimes"
    assert fields["payload_source"] == "Script"
    assert fields["payload_script"] == "{not json"
    assert fields["wait_for_completion_timeout"] == 0
    # The validation error is raised on its own, not chained to an internal one.
    assert error.__cause__ is None
    assert error.__suppress_context__ is True


def test_prepare_logs_tail_ignored_for_event(caplog_info: pytest.LogCaptureFixture) -> None:
    invocation = invocation_for(invocation_type="Event", log_type="Tail")
    assert invocation.request is not None
    assert invocation.request.invoke_kwargs().get("LogType") is None
    assert any("Tail" in m and "Event" in m for m in messages(caplog_info, logging.INFO))


def test_prepare_logs_role_arn_ignored_without_role_based_access(
    caplog_info: pytest.LogCaptureFixture,
) -> None:
    invocation_for(role_arn="arn:aws:iam::123456789012:role/r")
    assert any("role_based_access" in m for m in messages(caplog_info, logging.INFO))


# --------------------------------------------------------------------------------------------------
# finish


def test_finish_success(caplog_info: pytest.LogCaptureFixture) -> None:
    invocation = invocation_for(payload={"order": 1})
    invocation.credentials_set = True
    invocation.proxy_credentials_set = False
    result = InvokeResult(status_code=200, payload='{"ok": true}', executed_version="$LATEST")
    document = finish(invocation, result, log)
    assert_document(document)
    assert document["exit_code"] == 0
    assert document["status_description"] == STATUS_SUCCESS
    assert document["changed"] is True
    assert document["result"] == result.to_dict()
    fields = document["invocation"]["fields"]
    assert fields["credentials_user"] == "****"
    assert fields["proxy_credentials_user"] is None
    assert fields["payload_source"] == "Script"
    assert fields["payload_script"] == '{"order": 1}'
    assert not messages(caplog_info, logging.WARNING)


@pytest.mark.parametrize("status_code", [200, 202, 204])
def test_finish_success_for_every_triggered_status(status_code: int) -> None:
    document = finish(invocation_for(), InvokeResult(status_code=status_code), log)
    assert document["exit_code"] == 0
    assert document["changed"] is True


def test_finish_logs_a_valid_tail_line_by_line(caplog_info: pytest.LogCaptureFixture) -> None:
    tail = b64(b"START RequestId: 1\nhello\nEND RequestId: 1\n")
    document = finish(invocation_for(log_type="Tail"), InvokeResult(200, log_result=tail), log)
    assert document["status_description"] == STATUS_SUCCESS
    assert document["result"]["log_result"] == tail  # as the service returned it
    logged = messages(caplog_info, logging.INFO)
    for line in ("START RequestId: 1", "hello", "END RequestId: 1"):
        assert any(m.endswith(line) for m in logged), logged


def test_finish_decode_warning_for_a_tail_that_is_not_base64(caplog_info: pytest.LogCaptureFixture) -> None:
    document = finish(invocation_for(log_type="Tail"), InvokeResult(200, log_result="not base64!!"), log)
    assert_document(document)
    assert document["exit_code"] == 0
    assert document["status_description"] == STATUS_DECODE_WARNING
    assert document["changed"] is True
    assert document["result"]["log_result"] == "not base64!!"
    assert messages(caplog_info, logging.WARNING)


@pytest.mark.parametrize("dropped", [1, 2, 3])
def test_finish_tail_cut_mid_character_is_success_and_logged(
    caplog_info: pytest.LogCaptureFixture, dropped: int
) -> None:
    cut = "🎉first line\nsecond line é".encode()[dropped:]
    document = finish(invocation_for(log_type="Tail"), InvokeResult(200, log_result=b64(cut)), log)
    assert document["exit_code"] == 0
    assert document["status_description"] == STATUS_SUCCESS
    logged = messages(caplog_info, logging.INFO)
    assert any(m.endswith("first line") and "\ufffd" not in m for m in logged), logged
    assert any(m.endswith("second line é") for m in logged), logged
    assert not messages(caplog_info, logging.WARNING)


def test_finish_function_error_fails_by_default() -> None:
    invocation = invocation_for()
    result = InvokeResult(
        status_code=200, payload=ERROR_PAYLOAD, executed_version="$LATEST", function_error="Unhandled"
    )
    with raises(exceptions.LambdaFunctionError) as info:
        finish(invocation, result, log)
    error = info.value
    assert is_failure(error, exceptions.LambdaFailError)
    assert error.exit_code == 1
    assert error.status_description == "FAIL: Function error (Unhandled): ValueError: boom"
    document = error.output
    assert document is not None
    assert_document(document)
    assert document["exit_code"] == 1
    assert document["status_description"] == error.status_description
    assert document["changed"] is True  # the function was triggered; it failed
    assert document["result"]["function_error"] == "Unhandled"
    assert document["result"]["payload"] == ERROR_PAYLOAD
    assert document["result"]["status_code"] == 200


@pytest.mark.parametrize("flag", [False, "false", "0", "no"])
def test_finish_function_error_without_fail_on_function_error(
    caplog_info: pytest.LogCaptureFixture, flag: Any
) -> None:
    invocation = invocation_for(fail_on_function_error=flag)
    result = InvokeResult(status_code=200, payload=ERROR_PAYLOAD, function_error="Handled")
    document = finish(invocation, result, log)
    assert_document(document)
    assert document["exit_code"] == 0
    assert document["status_description"] == STATUS_SUCCESS
    assert document["result"]["function_error"] == "Handled"
    assert document["result"]["payload"] == ERROR_PAYLOAD
    warnings = messages(caplog_info, logging.WARNING)
    assert any("Function error (Handled): ValueError: boom" in m for m in warnings), warnings


def test_finish_function_error_with_undecodable_tail_keeps_decode_warning() -> None:
    invocation = invocation_for(fail_on_function_error=False)
    result = InvokeResult(200, log_result="%%%", payload=ERROR_PAYLOAD, function_error="Unhandled")
    document = finish(invocation, result, log)
    assert document["status_description"] == STATUS_DECODE_WARNING


def test_finish_unexpected_status_is_a_fail() -> None:
    with raises(exceptions.LambdaFailError) as info:
        finish(invocation_for(), InvokeResult(status_code=500), log)
    error = info.value
    assert type(public(error)) is exceptions.LambdaFailError
    assert error.status_description == "FAIL: unexpected status code 500"
    assert error.output is not None
    assert error.output["exit_code"] == 1
    assert error.output["changed"] is False
    assert error.output["result"]["status_code"] == 500


# --------------------------------------------------------------------------------------------------
# complete (deferrable mode)


def test_complete_success_event() -> None:
    result = InvokeResult(200, payload='"done"', executed_version="4")
    event = {"status": "success", "result": json.loads(json.dumps(result.to_dict()))}
    document = complete(invocation_for(), event, log)
    assert document == finish(invocation_for(), result, log)
    assert document["exit_code"] == 0
    assert document["result"]["executed_version"] == "4"


def test_complete_success_event_with_function_error_raises_function_error() -> None:
    result = InvokeResult(200, payload=ERROR_PAYLOAD, function_error="Unhandled")
    with raises(exceptions.LambdaFunctionError) as info:
        complete(invocation_for(), {"status": "success", "result": result.to_dict()}, log)
    assert info.value.output is not None
    assert info.value.output["result"]["function_error"] == "Unhandled"


@pytest.mark.parametrize(
    ("exit_code", "cls", "description"),
    [
        (1, exceptions.LambdaFailError, "FAIL: something broke"),
        (2, exceptions.LambdaAuthenticationError, "AUTHENTICATION_ERROR: Account cannot be authenticated."),
        (
            3,
            exceptions.LambdaAuthorizationError,
            "AUTHORIZATION_ERROR: Account is not authorized to perform the requested action.",
        ),
        (10, exceptions.LambdaConnectionError, "CONNECTION_ERROR: something broke"),
        (
            11,
            exceptions.LambdaProxyConnectionError,
            "CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL http://127.0.0.1:3128",
        ),
        (
            20,
            exceptions.LambdaDataValidationError,
            "DATA_VALIDATION_ERROR: Some of the input fields cannot be validated. something broke",
        ),
        (
            21,
            exceptions.LambdaReadTimeoutError,
            "READ_TIMEOUT_ERROR: Did not receive a server response within the allotted time frame "
            "(wait_for_completion_timeout).",
        ),
    ],
)
def test_complete_error_event_rebuilds_the_exception(
    exit_code: int, cls: type[exceptions.LambdaInvokeError], description: str
) -> None:
    event = {
        "status": "error",
        "exit_code": exit_code,
        "detail": "something broke",
        "proxy_url": PROXY_URL if exit_code == 11 else None,
    }
    invocation = invocation_for()
    invocation.credentials_set = True
    with raises(exceptions.LambdaInvokeError) as info:
        complete(invocation, event, log)
    error = info.value
    assert type(public(error)) is cls
    assert error.exit_code == exit_code
    assert error.detail == "something broke"
    assert error.status_description == description
    if exit_code == 11:
        assert error.proxy_url == PROXY_URL
    document = error.output
    assert document is not None
    assert_document(document)
    assert document["exit_code"] == exit_code
    assert document["status_description"] == description
    assert document["changed"] is False
    assert document["result"] == dict.fromkeys(RESULT_KEYS)
    assert document["invocation"]["fields"]["credentials_user"] == "****"


@pytest.mark.parametrize(
    "error",
    [
        exceptions.LambdaFailError("x"),
        exceptions.LambdaAuthenticationError("x"),
        exceptions.LambdaAuthorizationError("x"),
        exceptions.LambdaConnectionError("x"),
        exceptions.LambdaProxyConnectionError("x", proxy_url=PROXY_URL),
        exceptions.LambdaDataValidationError("x"),
        exceptions.LambdaReadTimeoutError("x"),
    ],
)
def test_error_event_round_trip(error: exceptions.LambdaInvokeError) -> None:
    event = json.loads(json.dumps(error_event(error)))
    with raises(exceptions.LambdaInvokeError) as info:
        complete(invocation_for(), event, log)
    assert type(public(info.value)) is type(error)
    assert info.value.status_description == error.status_description
    assert getattr(info.value, "proxy_url", None) == getattr(error, "proxy_url", None)


def test_complete_error_event_without_exit_code_is_a_fail() -> None:
    with raises(exceptions.LambdaFailError) as info:
        complete(invocation_for(), {"status": "error", "detail": "lost"}, log)
    assert info.value.exit_code == 1
    assert info.value.output is not None


# --------------------------------------------------------------------------------------------------
# describe_function_error


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            InvokeResult(200, payload=ERROR_PAYLOAD, function_error="Unhandled"),
            "Function error (Unhandled): ValueError: boom",
        ),
        (
            InvokeResult(200, payload='{"errorMessage": "only a message"}', function_error="Handled"),
            "Function error (Handled): only a message",
        ),
        (
            InvokeResult(200, payload='{"errorType": "Timeout"}', function_error="Unhandled"),
            "Function error (Unhandled): Timeout",
        ),
        (
            InvokeResult(200, payload="plain text", function_error="Unhandled"),
            "Function error (Unhandled): plain text",
        ),
        (
            InvokeResult(200, payload='["a", 1]', function_error="Unhandled"),
            "Function error (Unhandled): ['a', 1]",
        ),
        (InvokeResult(200, payload=None, function_error="Unhandled"), "Function error (Unhandled)"),
        (InvokeResult(200, payload="{}", function_error="Unhandled"), "Function error (Unhandled)"),
    ],
)
def test_describe_function_error(result: InvokeResult, expected: str) -> None:
    assert describe_function_error(result) == expected


def test_describe_function_error_is_bounded() -> None:
    payload = json.dumps({"errorType": "E", "errorMessage": "x" * 5000})
    text = describe_function_error(InvokeResult(200, payload=payload, function_error="Unhandled"))
    assert text.startswith("Function error (Unhandled): E: xxx")
    assert text.endswith("...")
    assert len(text) == len("Function error (Unhandled): ") + 500
