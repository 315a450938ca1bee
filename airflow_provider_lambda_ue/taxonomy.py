"""The exit-code taxonomy of ue-aws-lambda as plain Python exceptions: no Airflow import.

Every exception carries ``exit_code``, ``status`` (the seed's status classification code),
``status_description`` (the seed's wording) and ``output`` (the output document, once built).
The shared path (validation, the classifier, :mod:`.invocation`) raises these classes, so that
``lambda-ue invoke`` without an Airflow connection never imports Airflow (seconds and ~80 MiB).

The public classes of :mod:`airflow_provider_lambda_ue.exceptions` (the contract's names) derive
from these and from Airflow's ``AirflowException``/``AirflowFailException``. Importing that module
registers them here (:func:`register_public`): from then on constructing a class of this module
gives its public subclass, so wherever Airflow is loaded (operator, hook, trigger, the command line
with a connection) every failure is the Airflow-derived class the contract names, and where it is
not, the taxonomy is the same without Airflow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

__all__ = [
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
    "exception_for_exit_code",
    "register_public",
]

#: taxonomy class -> its public (Airflow-derived) subclass, filled by :func:`register_public`.
_PUBLIC: dict[type, type] = {}


class LambdaInvokeError(Exception):
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

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # Once Airflow's classes are registered (exceptions.py imported), every failure the shared
        # path builds is of the public, Airflow-derived class: what the operator raises to users.
        return super().__new__(_PUBLIC.get(cls, cls), *args, **kwargs)

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


class LambdaFullLogError(LambdaFailError):
    """Exit code 1: the function ran, but its complete log could not be read (``full_log_required``)."""


class LambdaAuthenticationError(LambdaInvokeError):
    """Exit code 2: bad, missing or expired credentials, for Lambda or STS."""

    exit_code = 2
    status = "AUTHENTICATION_ERROR"
    fixed_description = "AUTHENTICATION_ERROR: Account cannot be authenticated."


class LambdaAuthorizationError(LambdaInvokeError):
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


class LambdaDataValidationError(LambdaInvokeError):
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


class LambdaReadTimeoutError(LambdaInvokeError):
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
    """
    The exception class for an exit code (unknown codes map to :class:`LambdaFailError`): its
    public subclass once registered (:func:`register_public`), the class constructing it builds.
    """
    core = _BY_EXIT_CODE.get(exit_code, LambdaFailError)
    public: type[LambdaInvokeError] = _PUBLIC.get(core, core)
    return public


def register_public(core: type[LambdaInvokeError], public: type[LambdaInvokeError]) -> None:
    """
    Make constructing ``core`` build ``public`` instead (``public`` must subclass ``core``).

    :param core: A class of this module.
    :param public: Its Airflow-derived subclass in :mod:`airflow_provider_lambda_ue.exceptions`.
    """
    if not issubclass(public, core):
        raise TypeError(f"{public.__qualname__} does not derive from {core.__qualname__}")
    _PUBLIC[core] = public
