"""The classifier that maps wire failures (botocore, urllib3, aiohttp, OS) onto the exit-code exceptions.

Its error-code tables and the text utilities it uses (XML error bodies, credential redaction,
the root cause of a wrapped failure) live here too. botocore is imported lazily inside
:func:`classify`: the operator module imports this one through :mod:`.exceptions`.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_lambda_ue import outcomes
from airflow_provider_lambda_ue.masking import redact_credentials
from airflow_provider_lambda_ue.outcomes import InvocationFailure

__all__ = [
    "AUTHENTICATION_ERROR_CODES",
    "AUTHORIZATION_ERROR_CODES",
    "RETRY_SAFE_ERROR_CODES",
    "VALIDATION_ERROR_CODES",
    "classify",
    "error_code",
    "fix_xml_error",
    "parse_xml_error",
    "redact_credentials",
    "root_cause",
    "root_reason",
]


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
        # A durable execution name already used with another payload (409): the input is at fault,
        # and a retry with the same input can only fail the same way.
        "DurableExecutionAlreadyStartedException",
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


def classify(exc: BaseException, *, proxy_url: str | None = None) -> InvocationFailure:
    """
    Map a failure of an invocation (botocore, urllib3, aiohttp, OS) onto the contract's exceptions.

    Classification goes by error code and exception type, never by message text, except where
    the transport leaves no other trace (a proxy's 407 inside a urllib3 error).

    :param exc: The exception raised while building the client or invoking.
    :param proxy_url: The proxy URL in use (without credentials), or None without a proxy.
    :return: The typed exception (not raised), with ``__cause__`` set to ``exc``.
    """
    if isinstance(exc, InvocationFailure):
        return exc
    result = _classify(exc, proxy_url)
    result.__cause__ = exc
    return result


def _classify(exc: BaseException, proxy_url: str | None) -> InvocationFailure:
    from botocore import exceptions as bce

    if isinstance(exc, bce.ClientError):
        return _classify_client_error(exc, proxy_url)
    if isinstance(exc, bce.ParamValidationError):
        return InvocationFailure(outcomes.DATA_VALIDATION, _describe(exc))
    if isinstance(exc, bce.ReadTimeoutError):
        return InvocationFailure(outcomes.READ_TIMEOUT, _describe(exc))
    proxy_failure = _proxy_failure(exc, proxy_url)
    if proxy_failure is not None:
        return proxy_failure
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
        return InvocationFailure(outcomes.AUTHENTICATION, type(exc).__name__)
    if isinstance(exc, bce.InvalidProxiesConfigError) or (
        # botocore raises it while sending, so it arrives wrapped in HTTPClientError.
        isinstance(exc, bce.HTTPClientError)
        and isinstance(exc.kwargs.get("error"), bce.InvalidProxiesConfigError)
    ):
        return InvocationFailure(outcomes.DATA_VALIDATION, f"proxy_ca_bundle_file: {_describe(exc)}")
    if isinstance(exc, (bce.InvalidEndpointConfigurationError, bce.InvalidRegionError)):
        return InvocationFailure(outcomes.DATA_VALIDATION, _describe(exc))
    if isinstance(exc, bce.NoRegionError):
        return InvocationFailure(
            outcomes.DATA_VALIDATION,
            "region_name: no region given and none found in the connection or the environment",
        )
    if isinstance(
        exc,
        (
            bce.ConnectTimeoutError,
            bce.EndpointConnectionError,
            bce.ConnectionClosedError,
            bce.ResponseStreamingError,  # the connection broke while the answer was being read
            bce.SSLError,  # TLS to the endpoint (the proxy's is above)
            bce.HTTPClientError,
        ),
    ):
        return InvocationFailure(outcomes.CONNECTION, _describe(exc))
    if isinstance(exc, TimeoutError):
        return InvocationFailure(outcomes.READ_TIMEOUT, _describe(exc))
    if isinstance(exc, (ConnectionError, OSError)):
        return InvocationFailure(outcomes.CONNECTION, _describe(exc))
    return InvocationFailure(outcomes.FAIL, f"{type(exc).__name__}: {_describe(exc)}")


def _proxy_failure(exc: BaseException, proxy_url: str | None) -> InvocationFailure | None:
    """Exit code 11 for a failure on the way to the proxy (None: not the proxy's)."""
    from botocore import exceptions as bce

    if isinstance(exc, bce.ProxyConnectionError):
        # botocore's own proxy_url is already stripped of credentials (mask_proxy_url).
        shown = proxy_url or redact_credentials(str(exc.kwargs.get("proxy_url") or ""))
        return InvocationFailure(outcomes.PROXY_CONNECTION, _describe(exc), proxy_url=shown or None)
    if not proxy_url:
        return None
    if _is_unparsed_proxy_refusal(exc):
        return InvocationFailure(
            outcomes.PROXY_CONNECTION, "407 Proxy Authentication Required", proxy_url=proxy_url
        )
    # Behind a proxy, a failure on the way to it surfaces as a generic connection or TLS error
    # around urllib3's ProxyError.
    if isinstance(
        exc, (bce.SSLError, bce.EndpointConnectionError, bce.ConnectionClosedError)
    ) and _mentions_proxy(exc):
        return InvocationFailure(outcomes.PROXY_CONNECTION, _describe(exc), proxy_url=proxy_url)
    return None


def _classify_client_error(exc: BaseException, proxy_url: str | None) -> InvocationFailure:
    code = error_code(exc) or ""
    status = _http_status(exc)
    detail = _client_error_detail(exc)
    if code in AUTHENTICATION_ERROR_CODES:
        return InvocationFailure(outcomes.AUTHENTICATION, detail)
    if code in AUTHORIZATION_ERROR_CODES:
        return InvocationFailure(outcomes.AUTHORIZATION, detail)
    if code in VALIDATION_ERROR_CODES:
        return InvocationFailure(outcomes.DATA_VALIDATION, detail)
    if status == 407 or code == "407":
        return InvocationFailure(
            outcomes.PROXY_CONNECTION, "407 Proxy Authentication Required", proxy_url=proxy_url
        )
    # A code the tables do not know: the HTTP status still says which family it belongs to.
    if code in ("", str(status)):
        if status == 401:
            return InvocationFailure(outcomes.AUTHENTICATION, detail)
        if status == 403:
            return InvocationFailure(outcomes.AUTHORIZATION, detail)
    return InvocationFailure(outcomes.FAIL, detail)


def _is_unparsed_proxy_refusal(exc: BaseException) -> bool:
    """
    A forwarding proxy's 407 to a plain-http endpoint of an XML API (STS behind an emulator).

    botocore cannot parse the proxy's body as XML and raises ``ResponseParserError`` without the
    status; the body, which it quotes, still holds the standard reason phrase.
    """
    from botocore.parsers import ResponseParserError

    return isinstance(exc, ResponseParserError) and "Proxy Authentication Required" in str(exc)


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


def fix_xml_error(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """
    Recover the error code of an XML error body sent to the JSON Lambda API.

    botocore's JSON parser cannot read an XML body and reports the HTTP status as the code;
    emulators (and some proxies in front of them) answer auth failures that way.
    """
    if response_dict.get("status_code", 200) < 400:
        return
    headers = response_dict.get("headers") or {}
    if headers.get("x-amzn-errortype"):
        return
    parsed = parse_xml_error(response_dict.get("body") or b"")
    if parsed:
        code, message = parsed
        customized_response_dict["Error"] = {"Code": code, "Message": message}
