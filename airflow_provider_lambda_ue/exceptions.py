"""The exit-code taxonomy of ue-aws-lambda as exceptions, and the classifier that maps wire failures onto it.

Every exception carries ``exit_code``, ``status`` (the seed's status classification code),
``status_description`` (the seed's wording) and ``output`` (the output document, once built).
Failures that retrying cannot help (2, 3, 20, 21) also derive from Airflow's
:class:`~airflow.sdk.exceptions.AirflowFailException`, so Airflow does not retry them; 21 in
particular must never run the function a second time.

botocore is imported lazily inside :func:`classify`: the operator module imports this one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

from airflow_provider_lambda_ue.compat import AirflowException, AirflowFailException

__all__ = [
    "AUTHENTICATION_ERROR_CODES",
    "AUTHORIZATION_ERROR_CODES",
    "RETRY_SAFE_ERROR_CODES",
    "VALIDATION_ERROR_CODES",
    "LambdaAuthenticationError",
    "LambdaAuthorizationError",
    "LambdaConnectionError",
    "LambdaDataValidationError",
    "LambdaFailError",
    "LambdaFunctionError",
    "LambdaInvokeError",
    "LambdaProxyConnectionError",
    "LambdaReadTimeoutError",
    "classify",
    "error_code",
    "exception_for_exit_code",
    "parse_xml_error",
    "redact_credentials",
    "root_cause",
    "root_reason",
]


class LambdaInvokeError(AirflowException):
    """
    Base class of every failure of an invocation.

    :param detail: What went wrong, for the status description where the seed has a placeholder,
        and for the exception message otherwise. Must not contain secrets.
    :param output: The output document of the failed invocation, when it has been built.
    """

    exit_code: ClassVar[int] = 1
    status: ClassVar[str] = "FAIL"
    #: The seed's fixed status description; None where the seed has a ``<description>`` placeholder.
    fixed_description: ClassVar[str | None] = None

    def __init__(self, detail: str = "", *, output: dict[str, Any] | None = None) -> None:
        self.detail = detail
        self.output = output
        message = self.status_description
        if self.fixed_description is not None and detail:
            message = f"{message} ({detail})"
        super().__init__(message)

    @property
    def status_description(self) -> str:
        """The status description as the seed words it."""
        if self.fixed_description is not None:
            return self.fixed_description
        return f"{self.status}: {self.detail}" if self.detail else self.status

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only ``output`` would be lost by Exception's default pickling (subprocesses, triggers).
        return (_rebuild, (type(self), self.detail, self.output))


def _rebuild(cls: type[LambdaInvokeError], detail: str, output: dict[str, Any] | None) -> LambdaInvokeError:
    return cls(detail, output=output)


class LambdaFailError(LambdaInvokeError):
    """Exit code 1: failed invocation (unknown function, service error, throttling left, the unforeseen)."""


class LambdaFunctionError(LambdaFailError):
    """Exit code 1: the function ran and reported an error (``X-Amz-Function-Error``)."""


class LambdaAuthenticationError(LambdaInvokeError, AirflowFailException):
    """Exit code 2: bad, missing or expired credentials, for Lambda or STS."""

    exit_code = 2
    status = "AUTHENTICATION_ERROR"
    fixed_description = "AUTHENTICATION_ERROR: Account cannot be authenticated."


class LambdaAuthorizationError(LambdaInvokeError, AirflowFailException):
    """Exit code 3: access denied on Invoke or on AssumeRole."""

    exit_code = 3
    status = "AUTHORIZATION_ERROR"
    fixed_description = "AUTHORIZATION_ERROR: Account is not authorized to perform the requested action."


class LambdaConnectionError(LambdaInvokeError):
    """Exit code 10: endpoint unreachable, connect timeout, TLS failure to the endpoint."""

    exit_code = 10
    status = "CONNECTION_ERROR"


class LambdaProxyConnectionError(LambdaConnectionError):
    """
    Exit code 11: proxy unreachable, proxy refused authentication (407), TLS failure to the proxy.

    :param proxy_url: The proxy URL, without credentials.
    """

    exit_code = 11

    def __init__(
        self, detail: str = "", *, proxy_url: str | None = None, output: dict[str, Any] | None = None
    ) -> None:
        self.proxy_url = proxy_url
        super().__init__(detail, output=output)

    @property
    def status_description(self) -> str:
        return (
            f"CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL {self.proxy_url or ''}"
        )

    def __str__(self) -> str:
        return f"{self.status_description} ({self.detail})" if self.detail else self.status_description

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_proxy, (self.detail, self.proxy_url, self.output))


def _rebuild_proxy(
    detail: str, proxy_url: str | None, output: dict[str, Any] | None
) -> LambdaProxyConnectionError:
    return LambdaProxyConnectionError(detail, proxy_url=proxy_url, output=output)


class LambdaDataValidationError(LambdaInvokeError, AirflowFailException):
    """
    Exit code 20: input fields that cannot be validated, or parameters the service rejected.

    :param problems: One entry per bad field, each naming the field.
    """

    exit_code = 20
    status = "DATA_VALIDATION_ERROR"

    def __init__(
        self,
        detail: str = "",
        *,
        problems: Iterable[str] = (),
        output: dict[str, Any] | None = None,
    ) -> None:
        self.problems = list(problems)
        if not detail:
            detail = "; ".join(self.problems)
        super().__init__(detail, output=output)

    @property
    def status_description(self) -> str:
        head = "DATA_VALIDATION_ERROR: Some of the input fields cannot be validated."
        return f"{head} {self.detail}" if self.detail else head

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_validation, (self.detail, self.problems, self.output))


def _rebuild_validation(
    detail: str, problems: list[str], output: dict[str, Any] | None
) -> LambdaDataValidationError:
    return LambdaDataValidationError(detail, problems=problems, output=output)


class LambdaReadTimeoutError(LambdaInvokeError, AirflowFailException):
    """Exit code 21: no response within ``wait_for_completion_timeout``; never retried."""

    exit_code = 21
    status = "READ_TIMEOUT_ERROR"
    fixed_description = (
        "READ_TIMEOUT_ERROR: Did not receive a server response within the allotted time frame "
        "(wait_for_completion_timeout)."
    )


_BY_EXIT_CODE: dict[int, type[LambdaInvokeError]] = {
    cls.exit_code: cls
    for cls in (
        LambdaFailError,
        LambdaAuthenticationError,
        LambdaAuthorizationError,
        LambdaConnectionError,
        LambdaProxyConnectionError,
        LambdaDataValidationError,
        LambdaReadTimeoutError,
    )
}


def exception_for_exit_code(exit_code: int) -> type[LambdaInvokeError]:
    """The exception class for an exit code (unknown codes map to :class:`LambdaFailError`)."""
    return _BY_EXIT_CODE.get(exit_code, LambdaFailError)


# Error codes, as AWS services (and local emulators) put them in ``Error.Code``.
AUTHENTICATION_ERROR_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "UnrecognizedClient",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "IncompleteSignatureException",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "InvalidAccessKeyId",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidToken",
        "NotAuthorized",
    }
)
AUTHORIZATION_ERROR_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "Forbidden",
    }
)
VALIDATION_ERROR_CODES = frozenset(
    {
        "InvalidParameterValueException",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "ValidationException",
        "ValidationError",
        "InvalidRequestContentException",
        "RequestTooLargeException",
        "UnsupportedMediaTypeException",
        "MalformedPolicyDocument",
        "MissingParameter",
    }
)
#: Answers that prove the function did not run, so sending Invoke again cannot run it twice.
RETRY_SAFE_ERROR_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "ResourceNotReadyException",
        "EC2ThrottledException",
        "429",
    }
)

_XML_CODE = re.compile(r"<Code>\s*([^<\s]+)\s*</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>", re.DOTALL)


def parse_xml_error(body: bytes | str) -> tuple[str, str] | None:
    """
    Extract ``(code, message)`` from an XML error body, as some servers send even to JSON APIs.

    :param body: The raw response body.
    :return: The code and message, or None when the body holds no ``<Code>``.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    code = _XML_CODE.search(text)
    if not code:
        return None
    message = _XML_MESSAGE.search(text)
    return code.group(1), (message.group(1).strip() if message else "")


def error_code(exc: BaseException) -> str | None:
    """The service error code of a botocore ``ClientError`` (None for other exceptions)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = (response.get("Error") or {}).get("Code")
    return str(code) if code else None


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status else None


def _client_error_detail(exc: BaseException) -> str:
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error") or {}
    code = error.get("Code") or "Error"
    message = error.get("Message") or ""
    operation = getattr(exc, "operation_name", None)
    where = f" when calling the {operation} operation" if operation else ""
    return f"{code}{where}: {message}" if message else f"{code}{where}"


def classify(exc: BaseException, *, proxy_url: str | None = None) -> LambdaInvokeError:
    """
    Map a failure of an invocation (botocore, urllib3, aiohttp, OS) onto the contract's exceptions.

    Classification goes by error code and exception type, never by message text, except where
    the transport leaves no other trace (a proxy's 407 inside a urllib3 error).

    :param exc: The exception raised while building the client or invoking.
    :param proxy_url: The proxy URL in use (without credentials), or None without a proxy.
    :return: The typed exception (not raised), with ``__cause__`` set to ``exc``.
    """
    if isinstance(exc, LambdaInvokeError):
        return exc
    result = _classify(exc, proxy_url)
    result.__cause__ = exc
    return result


def _classify(exc: BaseException, proxy_url: str | None) -> LambdaInvokeError:
    from botocore import exceptions as bce

    if isinstance(exc, bce.ClientError):
        return _classify_client_error(exc, proxy_url)
    if isinstance(exc, bce.ParamValidationError):
        return LambdaDataValidationError(_describe(exc))
    if isinstance(exc, bce.ReadTimeoutError):
        return LambdaReadTimeoutError(_describe(exc))
    if isinstance(exc, bce.ProxyConnectionError):
        # botocore's own proxy_url is already stripped of credentials (mask_proxy_url).
        shown = proxy_url or redact_credentials(str(exc.kwargs.get("proxy_url") or ""))
        return LambdaProxyConnectionError(_describe(exc), proxy_url=shown or None)
    if proxy_url and isinstance(exc, bce.SSLError) and _mentions_proxy(exc):
        return LambdaProxyConnectionError(_describe(exc), proxy_url=proxy_url)
    # Behind a proxy, a failure on the way to it surfaces as a generic connection error around
    # urllib3's ProxyError.
    if (
        proxy_url
        and isinstance(exc, (bce.EndpointConnectionError, bce.ConnectionClosedError))
        and _mentions_proxy(exc)
    ):
        return LambdaProxyConnectionError(_describe(exc), proxy_url=proxy_url)
    if isinstance(
        exc,
        (
            bce.NoCredentialsError,
            bce.PartialCredentialsError,
            bce.CredentialRetrievalError,
            bce.NoAuthTokenError,
            bce.UnauthorizedSSOTokenError,
            bce.TokenRetrievalError,
        ),
    ):
        return LambdaAuthenticationError(type(exc).__name__)
    if isinstance(
        exc,
        (
            bce.ConnectTimeoutError,
            bce.EndpointConnectionError,
            bce.ConnectionClosedError,
            bce.ResponseStreamingError,  # the connection broke while the answer was being read
        ),
    ):
        return LambdaConnectionError(_describe(exc))
    if isinstance(exc, bce.InvalidProxiesConfigError) or (
        # botocore raises it while sending, so it arrives wrapped in HTTPClientError.
        isinstance(exc, bce.HTTPClientError)
        and isinstance(exc.kwargs.get("error"), bce.InvalidProxiesConfigError)
    ):
        return LambdaDataValidationError(f"proxy_ca_bundle_file: {_describe(exc)}")
    if isinstance(exc, bce.SSLError):
        return LambdaConnectionError(_describe(exc))
    if isinstance(exc, (bce.InvalidEndpointConfigurationError, bce.InvalidRegionError)):
        return LambdaDataValidationError(_describe(exc))
    if isinstance(exc, bce.NoRegionError):
        return LambdaDataValidationError(
            "region_name: no region given and none found in the connection or the environment"
        )
    if isinstance(exc, bce.HTTPClientError):
        return LambdaConnectionError(_describe(exc))
    if isinstance(exc, TimeoutError):
        return LambdaReadTimeoutError(_describe(exc))
    if isinstance(exc, (ConnectionError, OSError)):
        return LambdaConnectionError(_describe(exc))
    return LambdaFailError(f"{type(exc).__name__}: {_describe(exc)}")


def _classify_client_error(exc: BaseException, proxy_url: str | None) -> LambdaInvokeError:
    code = error_code(exc) or ""
    status = _http_status(exc)
    detail = _client_error_detail(exc)
    if code in AUTHENTICATION_ERROR_CODES:
        return LambdaAuthenticationError(detail)
    if code in AUTHORIZATION_ERROR_CODES:
        return LambdaAuthorizationError(detail)
    if code in VALIDATION_ERROR_CODES:
        return LambdaDataValidationError(detail)
    if status == 407 or code == "407":
        return LambdaProxyConnectionError("407 Proxy Authentication Required", proxy_url=proxy_url)
    # A code the tables do not know: the HTTP status still says which family it belongs to.
    if code in ("", str(status)):
        if status == 401:
            return LambdaAuthenticationError(detail)
        if status == 403:
            return LambdaAuthorizationError(detail)
    return LambdaFailError(detail)


def _mentions_proxy(exc: BaseException) -> bool:
    # urllib3 wraps every failure on the way to the proxy in ProxyError; botocore keeps it as .error.
    from urllib3.exceptions import ProxyError

    seen: set[int] = set()
    current: object = exc
    while isinstance(current, BaseException) and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ProxyError):
            return True
        kwargs = getattr(current, "kwargs", None)
        inner = kwargs.get("error") if isinstance(kwargs, dict) else None
        current = inner or current.__cause__ or current.__context__
    return False


_URL_USERINFO = re.compile(r"://[^/\s]*@")


def redact_credentials(text: str) -> str:
    """Remove the ``user:password@`` part of every URL in ``text``."""
    return _URL_USERINFO.sub("://", text)


def _describe(exc: BaseException) -> str:
    """
    A one-line description of a transport failure, without credentials.

    botocore's messages name only the URL (``Failed to connect to proxy URL: "..."``); the reason
    (``Tunnel connection failed: 407 ...``, ``certificate verify failed ...``, ``Connection refused``)
    sits in the exceptions it wraps and is appended.
    """
    text = str(exc)
    reason = root_reason(exc)
    if reason and reason not in text:
        text = f"{text} ({reason})"
    # botocore and urllib3 may print a proxy URL; the hook's carry credentials for basic auth.
    return redact_credentials(" ".join(text.split()))


def root_reason(exc: BaseException) -> str:
    """The text of :func:`root_cause`, or ``""`` when ``exc`` wraps nothing."""
    cause = root_cause(exc)
    if cause is None:
        return ""
    # urllib3 puts the connection object before the message, ``(<AWSHTTPConnection ... at 0x7f..>,
    # "Connection to host timed out")``: its repr adds a memory address and nothing a user needs.
    kept = [arg for arg in cause.args if isinstance(arg, (str, int, float, BaseException))]
    if len(kept) == len(cause.args) or not kept:
        return str(cause)
    return "; ".join(arg if isinstance(arg, str) else repr(arg) for arg in kept)


def root_cause(exc: BaseException) -> BaseException | None:
    """
    The innermost exception a transport failure wraps, or None.

    Follows botocore's ``kwargs["error"]``, urllib3's ``ProxyError.original_error`` and
    ``MaxRetryError.reason``, and exceptions given as the first argument (urllib3's ``SSLError``).
    """
    seen: set[int] = set()
    current: BaseException = exc
    innermost: BaseException | None = None
    while id(current) not in seen:
        seen.add(id(current))
        kwargs = getattr(current, "kwargs", None)
        candidates = [
            kwargs.get("error") if isinstance(kwargs, dict) else None,
            getattr(current, "original_error", None),
            getattr(current, "reason", None),
            current.args[0] if current.args else None,
        ]
        inner = next((c for c in candidates if isinstance(c, BaseException)), None)
        if inner is None:
            break
        innermost = current = inner
    return innermost
