"""The exit-code taxonomy of ue-aws-lambda as exceptions.

Every exception carries ``exit_code``, ``status`` (the seed's status classification code),
``status_description`` (the seed's wording) and ``output`` (the output document, once built).
Failures that retrying cannot help (2, 3, 20, 21) also derive from Airflow's
:class:`~airflow.sdk.exceptions.AirflowFailException`, so Airflow does not retry them; 21 in
particular must never run the function a second time.

The classifier that maps wire failures onto them is :mod:`airflow_provider_lambda_ue.classifier`;
its names stay importable from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_lambda_ue.compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.classifier import (
        AUTHENTICATION_ERROR_CODES,
        AUTHORIZATION_ERROR_CODES,
        RETRY_SAFE_ERROR_CODES,
        VALIDATION_ERROR_CODES,
        classify,
        error_code,
        parse_xml_error,
        redact_credentials,
        root_cause,
        root_reason,
    )

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
    "LambdaFullLogError",
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
    #: The keyword-only arguments of ``__init__``, each kept in the attribute of the same name.
    _keywords: ClassVar[tuple[str, ...]] = ("output",)

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
        # Exception's default pickling replays ``args`` only, and would lose the keyword-only
        # arguments (subprocesses, triggers); every subclass names its own in ``_keywords``.
        keywords = {name: getattr(self, name) for name in self._keywords}
        return (_rebuild, (type(self), self.detail, keywords))


def _rebuild(cls: type[LambdaInvokeError], detail: str, keywords: dict[str, Any]) -> LambdaInvokeError:
    return cls(detail, **keywords)


class LambdaFailError(LambdaInvokeError):
    """Exit code 1: failed invocation (unknown function, service error, throttling left, the unforeseen)."""


class LambdaFunctionError(LambdaFailError):
    """Exit code 1: the function ran and reported an error (``X-Amz-Function-Error``)."""


class LambdaFullLogError(LambdaFailError, AirflowFailException):
    """
    Exit code 1: the function ran, but its complete log could not be read (``full_log_required``).

    Not retried by Airflow: a retry would run the function again to read a log.
    """


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
    _keywords = ("proxy_url", "output")

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


class LambdaDataValidationError(LambdaInvokeError, AirflowFailException):
    """
    Exit code 20: input fields that cannot be validated, or parameters the service rejected.

    :param problems: One entry per bad field, each naming the field.
    """

    exit_code = 20
    status = "DATA_VALIDATION_ERROR"
    _keywords = ("problems", "output")

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


# The classifier's names, importable from here as before; loaded on first use so that importing
# the exceptions alone does not load the classifier.
def __getattr__(name: str) -> Any:
    from airflow_provider_lambda_ue import classifier

    if name in classifier.__all__:
        return getattr(classifier, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
