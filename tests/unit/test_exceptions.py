"""Unit tests of the exit-code taxonomy (module ``exceptions``) and of :func:`classify` (``classifier``).

The botocore failures here are constructed directly (no server, no boto3 mock): they pin the mapping
from exception type and error code to exit code. Wire-level classification, i.e. what real servers
and proxies (moto, proxy.py, TLS with trustme certificates) make botocore raise, is tested elsewhere
against those real servers.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from airflow.exceptions import AirflowException as AirflowCoreException
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from botocore import exceptions as bce
from urllib3.exceptions import ProxyError

from airflow_provider_lambda_ue.classifier import classify, error_code, parse_xml_error
from airflow_provider_lambda_ue.exceptions import (
    LambdaAuthenticationError,
    LambdaAuthorizationError,
    LambdaConnectionError,
    LambdaDataValidationError,
    LambdaFailError,
    LambdaFunctionError,
    LambdaInvokeError,
    LambdaProxyConnectionError,
    LambdaReadTimeoutError,
    exception_for_exit_code,
    public,
)

PROXY_URL = "http://127.0.0.1:3128"
ENDPOINT = "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations"

ALL_CLASSES = [
    LambdaFailError,
    LambdaFunctionError,
    LambdaAuthenticationError,
    LambdaAuthorizationError,
    LambdaConnectionError,
    LambdaProxyConnectionError,
    LambdaDataValidationError,
    LambdaReadTimeoutError,
]


# --------------------------------------------------------------------------------------------------
# Hierarchy, exit codes, statuses


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_every_exception_derives_from_airflow_exception_via_the_base(cls: type[LambdaInvokeError]) -> None:
    assert issubclass(cls, LambdaInvokeError)
    assert issubclass(LambdaInvokeError, AirflowException)
    assert issubclass(cls, AirflowException)
    assert issubclass(cls, AirflowCoreException)


@pytest.mark.parametrize(
    ("cls", "fails_without_retry"),
    [
        (LambdaFailError, False),
        (LambdaFunctionError, False),
        (LambdaAuthenticationError, True),
        (LambdaAuthorizationError, True),
        (LambdaConnectionError, False),
        (LambdaProxyConnectionError, False),
        (LambdaDataValidationError, True),
        (LambdaReadTimeoutError, True),
    ],
)
def test_only_2_3_20_21_fail_without_retry(cls: type[LambdaInvokeError], fails_without_retry: bool) -> None:
    assert issubclass(cls, AirflowFailException) is fails_without_retry
    assert isinstance(cls("x"), AirflowFailException) is fails_without_retry


def test_subclass_relations() -> None:
    assert issubclass(LambdaFunctionError, LambdaFailError)
    assert issubclass(LambdaProxyConnectionError, LambdaConnectionError)
    assert not issubclass(LambdaReadTimeoutError, LambdaConnectionError)


@pytest.mark.parametrize(
    ("cls", "exit_code", "status"),
    [
        (LambdaFailError, 1, "FAIL"),
        (LambdaFunctionError, 1, "FAIL"),
        (LambdaAuthenticationError, 2, "AUTHENTICATION_ERROR"),
        (LambdaAuthorizationError, 3, "AUTHORIZATION_ERROR"),
        (LambdaConnectionError, 10, "CONNECTION_ERROR"),
        (LambdaProxyConnectionError, 11, "CONNECTION_ERROR"),
        (LambdaDataValidationError, 20, "DATA_VALIDATION_ERROR"),
        (LambdaReadTimeoutError, 21, "READ_TIMEOUT_ERROR"),
    ],
)
def test_exit_codes_and_statuses(cls: type[LambdaInvokeError], exit_code: int, status: str) -> None:
    assert cls.exit_code == exit_code
    assert cls.status == status
    error = cls("detail")
    assert error.exit_code == exit_code
    assert error.status == status
    assert error.output is None


@pytest.mark.parametrize(
    ("error", "description"),
    [
        (LambdaFailError("Function not found: f"), "FAIL: Function not found: f"),
        (LambdaFailError(), "FAIL"),
        (LambdaFunctionError("Function error (Unhandled): boom"), "FAIL: Function error (Unhandled): boom"),
        (
            LambdaAuthenticationError("UnrecognizedClientException"),
            "AUTHENTICATION_ERROR: Account cannot be authenticated.",
        ),
        (LambdaAuthenticationError(), "AUTHENTICATION_ERROR: Account cannot be authenticated."),
        (
            LambdaAuthorizationError("AccessDeniedException"),
            "AUTHORIZATION_ERROR: Account is not authorized to perform the requested action.",
        ),
        (
            LambdaConnectionError("Could not connect to the endpoint URL"),
            "CONNECTION_ERROR: Could not connect to the endpoint URL",
        ),
        (
            LambdaProxyConnectionError("refused", proxy_url=PROXY_URL),
            "CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL http://127.0.0.1:3128",
        ),
        (
            LambdaDataValidationError(problems=["payload: is not valid JSON"]),
            "DATA_VALIDATION_ERROR: Some of the input fields cannot be validated. payload: is not valid JSON",
        ),
        (
            LambdaDataValidationError(),
            "DATA_VALIDATION_ERROR: Some of the input fields cannot be validated.",
        ),
        (
            LambdaReadTimeoutError("Read timeout on endpoint URL"),
            "READ_TIMEOUT_ERROR: Did not receive a server response within the allotted time frame "
            "(wait_for_completion_timeout).",
        ),
    ],
)
def test_status_descriptions_follow_the_seed_wording(error: LambdaInvokeError, description: str) -> None:
    assert error.status_description == description
    assert str(error).startswith(description)


def test_fixed_descriptions_keep_the_detail_in_the_message() -> None:
    error = LambdaAuthenticationError("ExpiredTokenException")
    assert str(error) == "AUTHENTICATION_ERROR: Account cannot be authenticated. (ExpiredTokenException)"
    assert error.detail == "ExpiredTokenException"


def test_proxy_error_message_and_detail() -> None:
    error = LambdaProxyConnectionError("407 Proxy Authentication Required", proxy_url=PROXY_URL)
    assert error.proxy_url == PROXY_URL
    assert str(error) == (
        "CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL http://127.0.0.1:3128 "
        "(407 Proxy Authentication Required)"
    )


def test_validation_error_joins_the_problems() -> None:
    error = LambdaDataValidationError(problems=["action: bad", "payload: bad"])
    assert error.problems == ["action: bad", "payload: bad"]
    assert error.detail == "action: bad; payload: bad"
    assert error.status_description == (
        "DATA_VALIDATION_ERROR: Some of the input fields cannot be validated. action: bad; payload: bad"
    )
    assert LambdaDataValidationError("explicit detail", problems=["x: y"]).detail == "explicit detail"


# --------------------------------------------------------------------------------------------------
# Pickling (subprocesses, triggers)


DOCUMENT: dict[str, Any] = {"exit_code": 1, "status_description": "FAIL: x", "result": {"status_code": 500}}


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_pickle_round_trip_keeps_exit_code_detail_and_output(cls: type[LambdaInvokeError]) -> None:
    error = cls("the detail", output=DOCUMENT)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert copy.exit_code == error.exit_code
    assert copy.detail == "the detail"
    assert copy.output == DOCUMENT
    assert copy.status_description == error.status_description
    assert str(copy) == str(error)


def test_pickle_round_trip_keeps_proxy_url() -> None:
    error = LambdaProxyConnectionError("refused", proxy_url=PROXY_URL, output=DOCUMENT)
    copy = pickle.loads(pickle.dumps(error))
    assert type(public(copy)) is LambdaProxyConnectionError
    assert copy.proxy_url == PROXY_URL
    assert copy.detail == "refused"
    assert copy.output == DOCUMENT
    assert copy.exit_code == 11
    assert copy.status_description.endswith(PROXY_URL)


def test_pickle_round_trip_keeps_validation_problems() -> None:
    error = LambdaDataValidationError(problems=["a: x", "b: y"], output=DOCUMENT)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.problems == ["a: x", "b: y"]
    assert copy.detail == error.detail
    assert copy.output == DOCUMENT


# --------------------------------------------------------------------------------------------------
# exception_for_exit_code


@pytest.mark.parametrize(
    ("exit_code", "cls"),
    [
        (1, LambdaFailError),
        (2, LambdaAuthenticationError),
        (3, LambdaAuthorizationError),
        (10, LambdaConnectionError),
        (11, LambdaProxyConnectionError),
        (20, LambdaDataValidationError),
        (21, LambdaReadTimeoutError),
        (0, LambdaFailError),
        (99, LambdaFailError),
        (-1, LambdaFailError),
    ],
)
def test_exception_for_exit_code(exit_code: int, cls: type[LambdaInvokeError]) -> None:
    assert exception_for_exit_code(exit_code) is cls


# --------------------------------------------------------------------------------------------------
# parse_xml_error


STS_XML = b"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>InvalidClientTokenId</Code>
    <Message>The security token included in the request is invalid.</Message>
  </Error>
  <RequestId>abc</RequestId>
</ErrorResponse>"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (STS_XML, ("InvalidClientTokenId", "The security token included in the request is invalid.")),
        (
            STS_XML.decode(),
            ("InvalidClientTokenId", "The security token included in the request is invalid."),
        ),
        (
            "<Error><Code> AccessDenied </Code><Message>\n  Denied.\n</Message></Error>",
            ("AccessDenied", "Denied."),
        ),
        ("<Error><Code>UnrecognizedClientException</Code></Error>", ("UnrecognizedClientException", "")),
        (b"<Code>X</Code><Message>caf\xe9</Message>", ("X", "caf\ufffd")),
    ],
)
def test_parse_xml_error(body: bytes | str, expected: tuple[str, str]) -> None:
    assert parse_xml_error(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{"__type": "UnrecognizedClientException"}',
        "<Error><Message>x</Message></Error>",
        "<Code></Code>",
    ],
)
def test_parse_xml_error_without_code(body: bytes | str) -> None:
    assert parse_xml_error(body) is None


# --------------------------------------------------------------------------------------------------
# classify: botocore exceptions built directly


def client_error(code: str, status: int, message: str = "", operation: str = "Invoke") -> bce.ClientError:
    """A ClientError as botocore builds it from a parsed error response."""
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {
            "RequestId": "7f1e8b2c-0000-4000-8000-000000000000",
            "HTTPStatusCode": status,
            "HTTPHeaders": {"content-type": "application/json", "x-amzn-errortype": f"{code}:"},
            "RetryAttempts": 0,
        },
    }
    if code and message:
        response["message"] = message
    return bce.ClientError(response, operation)


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (
            client_error(
                "UnrecognizedClientException", 403, "The security token included in the request is invalid."
            ),
            LambdaAuthenticationError,
        ),
        (
            client_error(
                "InvalidSignatureException",
                403,
                "The request signature we calculated does not match the signature you provided.",
            ),
            LambdaAuthenticationError,
        ),
        (
            client_error(
                "ExpiredTokenException", 403, "The security token included in the request is expired"
            ),
            LambdaAuthenticationError,
        ),
        (
            client_error("InvalidClientTokenId", 403, "The security token is invalid.", "AssumeRole"),
            LambdaAuthenticationError,
        ),
        (
            client_error(
                "AccessDeniedException",
                403,
                "User: arn:aws:iam::123456789012:user/u is not authorized to perform: lambda:InvokeFunction",
            ),
            LambdaAuthorizationError,
        ),
        (
            client_error(
                "AccessDenied",
                403,
                "User: arn:aws:iam::123456789012:user/u is not authorized to perform: sts:AssumeRole",
                "AssumeRole",
            ),
            LambdaAuthorizationError,
        ),
        (
            client_error(
                "ResourceNotFoundException",
                404,
                "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope",
            ),
            LambdaFailError,
        ),
        (client_error("TooManyRequestsException", 429, "Rate Exceeded."), LambdaFailError),
        (client_error("ServiceException", 500, "Internal error"), LambdaFailError),
        (
            client_error("InvalidParameterValueException", 400, "Invalid qualifier"),
            LambdaDataValidationError,
        ),
        (
            client_error("RequestTooLargeException", 413, "Request must be smaller than 6291456 bytes"),
            LambdaDataValidationError,
        ),
        (client_error("InvalidRequestContentException", 400, "Could not parse"), LambdaDataValidationError),
        # Codes the tables do not know: the HTTP status decides.
        (client_error("403", 403, "Forbidden"), LambdaAuthorizationError),
        (client_error("401", 401, "Unauthorized"), LambdaAuthenticationError),
        (client_error("", 403), LambdaAuthorizationError),
        (client_error("", 401), LambdaAuthenticationError),
        (client_error("500", 500, "Internal Server Error"), LambdaFailError),
        (client_error("SomethingNew", 403, "?"), LambdaFailError),
    ],
)
def test_classify_client_errors(exc: bce.ClientError, cls: type[LambdaInvokeError]) -> None:
    result = classify(exc)
    assert type(public(result)) is cls
    assert result.__cause__ is exc


@pytest.mark.parametrize("status_or_code", [("407", 407), ("", 407), ("ProxyAuthenticationRequired", 407)])
def test_classify_proxy_authentication_required(status_or_code: tuple[str, int]) -> None:
    code, status = status_or_code
    result = classify(client_error(code, status, "Proxy Authentication Required"), proxy_url=PROXY_URL)
    assert type(public(result)) is LambdaProxyConnectionError
    assert result.exit_code == 11
    assert result.proxy_url == PROXY_URL
    assert result.status_description == (
        "CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL http://127.0.0.1:3128"
    )
    assert "407" in result.detail


def test_client_error_detail_names_code_operation_and_message() -> None:
    result = classify(client_error("ResourceNotFoundException", 404, "Function not found: f"))
    assert (
        result.detail == "ResourceNotFoundException when calling the Invoke operation: Function not found: f"
    )
    assert result.status_description == (
        "FAIL: ResourceNotFoundException when calling the Invoke operation: Function not found: f"
    )


def test_error_code() -> None:
    assert error_code(client_error("AccessDenied", 403)) == "AccessDenied"
    assert error_code(client_error("", 403)) is None
    assert error_code(ValueError("x")) is None


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (bce.NoCredentialsError(), LambdaAuthenticationError),
        (
            bce.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
            LambdaAuthenticationError,
        ),
        (bce.ReadTimeoutError(endpoint_url=ENDPOINT), LambdaReadTimeoutError),
        (bce.ConnectTimeoutError(endpoint_url=ENDPOINT), LambdaConnectionError),
        (bce.EndpointConnectionError(endpoint_url=ENDPOINT), LambdaConnectionError),
        (bce.ConnectionClosedError(endpoint_url=ENDPOINT), LambdaConnectionError),
        (bce.SSLError(endpoint_url=ENDPOINT, error="certificate verify failed"), LambdaConnectionError),
        (
            bce.ParamValidationError(report="Invalid length for parameter FunctionName, value: 0"),
            LambdaDataValidationError,
        ),
        (bce.NoRegionError(), LambdaDataValidationError),
        (ConnectionRefusedError(111, "Connection refused"), LambdaConnectionError),
        (RuntimeError("unforeseen"), LambdaFailError),
    ],
)
def test_classify_botocore_and_other_exceptions(exc: Exception, cls: type[LambdaInvokeError]) -> None:
    result = classify(exc)
    assert type(public(result)) is cls
    assert result.__cause__ is exc
    assert result.output is None


def test_classify_no_credentials_is_authentication() -> None:
    result = classify(bce.NoCredentialsError())
    assert result.exit_code == 2
    assert result.status_description == "AUTHENTICATION_ERROR: Account cannot be authenticated."


def test_classify_read_timeout_is_21() -> None:
    result = classify(bce.ReadTimeoutError(endpoint_url=ENDPOINT))
    assert result.exit_code == 21
    assert isinstance(public(result), AirflowFailException)
    assert result.status_description == (
        "READ_TIMEOUT_ERROR: Did not receive a server response within the allotted time frame "
        "(wait_for_completion_timeout)."
    )


def test_classify_connect_timeout_is_10_and_retryable_by_airflow() -> None:
    result = classify(bce.ConnectTimeoutError(endpoint_url=ENDPOINT))
    assert result.exit_code == 10
    assert not isinstance(public(result), AirflowFailException)
    assert result.status_description == f'CONNECTION_ERROR: Connect timeout on endpoint URL: "{ENDPOINT}"'


def test_classify_param_validation_is_20() -> None:
    result = classify(bce.ParamValidationError(report="Invalid type for parameter Payload"))
    assert result.exit_code == 20
    assert "Invalid type for parameter Payload" in result.status_description
    assert result.status_description.startswith(
        "DATA_VALIDATION_ERROR: Some of the input fields cannot be validated."
    )


def test_classify_proxy_connection_error() -> None:
    exc = bce.ProxyConnectionError(proxy_url=PROXY_URL, error="[Errno 111] Connection refused")
    result = classify(exc, proxy_url=PROXY_URL)
    assert type(public(result)) is LambdaProxyConnectionError
    assert result.exit_code == 11
    assert result.proxy_url == PROXY_URL
    assert result.status_description == (
        "CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL http://127.0.0.1:3128"
    )
    assert result.__cause__ is exc


def test_classify_endpoint_error_around_urllib3_proxy_error_is_a_proxy_failure() -> None:
    inner = ProxyError("Unable to connect to proxy", ConnectionRefusedError(111, "Connection refused"))
    exc = bce.EndpointConnectionError(endpoint_url=ENDPOINT, error=inner)
    through_proxy = classify(exc, proxy_url=PROXY_URL)
    assert type(public(through_proxy)) is LambdaProxyConnectionError
    assert through_proxy.proxy_url == PROXY_URL
    # Without a proxy in use, the same failure is an endpoint connection error.
    assert type(public(classify(exc))) is LambdaConnectionError


def test_classify_ssl_error_to_the_proxy_is_a_proxy_failure() -> None:
    inner = ProxyError("Unable to connect to proxy", OSError("certificate verify failed"))
    exc = bce.SSLError(endpoint_url=ENDPOINT, error=inner)
    assert type(public(classify(exc, proxy_url="https://127.0.0.1:3129"))) is LambdaProxyConnectionError
    plain = bce.SSLError(endpoint_url=ENDPOINT, error=OSError("certificate verify failed"))
    assert type(public(classify(plain, proxy_url="https://127.0.0.1:3129"))) is LambdaConnectionError


@pytest.mark.parametrize(
    "exc",
    [
        bce.EndpointConnectionError(endpoint_url=ENDPOINT, error="[Errno 111] Connection refused"),
        bce.SSLError(endpoint_url=ENDPOINT, error="certificate verify failed"),
    ],
)
def test_classify_never_raises_when_the_wrapped_error_is_text(exc: Exception) -> None:
    # BUG (exceptions.py _mentions_proxy): it walks ``exc.kwargs["error"]`` and then reads
    # ``current.__cause__``; when botocore's ``error`` kwarg is not an exception (a message string,
    # as botocore's own message templates allow), classify(..., proxy_url=...) raises AttributeError
    # instead of returning the contract's exception, so the hook's ``raise classify(exc) from exc``
    # loses the classification entirely. Correct behaviour: exit code 10, no exception from classify.
    result = classify(exc, proxy_url=PROXY_URL)
    assert type(public(result)) is LambdaConnectionError


def test_classify_strips_inline_credentials_from_descriptions() -> None:
    exc = bce.EndpointConnectionError(endpoint_url="http://user:s3cret@host:1/path")
    result = classify(exc)
    assert "s3cret" not in result.status_description
    assert "s3cret" not in str(result)


def test_classify_passes_our_own_exception_through() -> None:
    error = LambdaReadTimeoutError("already classified")
    assert classify(error) is error


def test_classify_of_our_own_exception_keeps_its_cause() -> None:
    # BUG (exceptions.py classify): for an exception that is already a LambdaInvokeError, _classify
    # returns it unchanged and classify() then sets ``result.__cause__ = exc``, i.e. the exception
    # becomes its own cause and the original cause (the botocore error) is lost. The hook does
    # ``raise classify(exc) from exc`` where self.conn may raise our own exceptions.
    # Correct behaviour: classify() returns it unchanged, cause included.
    original = bce.NoCredentialsError()
    error = LambdaAuthenticationError("NoCredentialsError")
    error.__cause__ = original
    result = classify(error)
    assert result is error
    assert result.__cause__ is not result
    assert result.__cause__ is original


def test_classify_proxy_ca_bundle_unreadable_at_send_time_is_validation() -> None:
    """botocore builds the proxy's TLS context while sending: the error arrives wrapped in HTTPClientError."""
    from botocore import exceptions as bce

    inner = bce.InvalidProxiesConfigError(error=OSError("No such file or directory"))
    for raised in (inner, bce.HTTPClientError(error=inner)):
        error = classify(raised)
        assert error.exit_code == 20
        assert "proxy_ca_bundle_file" in error.detail
