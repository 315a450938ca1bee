"""The contract's exceptions: one Airflow exception class per failure outcome of the exit-code table.

Every class carries ``exit_code``, ``status`` (the seed's status classification code),
``status_description`` (the seed's wording), ``detail`` and ``output`` (the output document, once
built); its row of :data:`~airflow_provider_lambda_ue.outcomes.OUTCOMES` is its ``outcome``.
Outcomes that retrying cannot mend, or must not repeat (exit codes 2, 3, 20, 21, and a complete
log that could not be read after the function ran), derive from Airflow's
:class:`~airflow.sdk.exceptions.AirflowFailException` as well, so Airflow does not retry them.

The path shared with the command line raises
:class:`~airflow_provider_lambda_ue.outcomes.InvocationFailure` (no Airflow there); the operator
and the hook raise these classes, which derive from it (:func:`public`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_provider_lambda_ue import outcomes
from airflow_provider_lambda_ue.compat import AirflowException, AirflowFailException
from airflow_provider_lambda_ue.outcomes import InvocationFailure, Outcome

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
    "public",
]


class LambdaInvokeError(InvocationFailure, AirflowException):
    """
    Base class of every failure of an invocation.

    :param detail: What went wrong, for the status description where the seed has a placeholder,
        and for the exception message otherwise. Must not contain secrets.
    :param problems: One entry per bad field, each naming the field (exit code 20).
    :param proxy_url: The proxy URL, without credentials (exit code 11).
    :param output: The output document of the failed invocation, when it has been built.
    """

    #: The row of the exit-code table this class stands for.
    outcome: Outcome = outcomes.FAIL

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Readable from the class as well (``LambdaReadTimeoutError.exit_code == 21``).
        cls.exit_code = cls.outcome.exit_code  # type: ignore[assignment]
        cls.status = cls.outcome.status  # type: ignore[assignment]

    def __init__(
        self,
        detail: str = "",
        *,
        problems: Iterable[str] = (),
        proxy_url: str | None = None,
        output: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(type(self).outcome, detail, problems=problems, proxy_url=proxy_url, output=output)


class LambdaFailError(LambdaInvokeError):
    """Exit code 1: failed invocation (unknown function, service error, throttling left, the unforeseen)."""


class LambdaFunctionError(LambdaFailError):
    """Exit code 1: the function ran and reported an error (``X-Amz-Function-Error``)."""

    outcome = outcomes.FUNCTION_ERROR


class LambdaFullLogError(LambdaFailError, AirflowFailException):
    """
    Exit code 1: the function ran, but its complete log could not be read (``full_log_required``).

    Not retried by Airflow: a retry would run the function again to read a log.
    """

    outcome = outcomes.FULL_LOG


class LambdaAuthenticationError(LambdaInvokeError, AirflowFailException):
    """Exit code 2: bad, missing or expired credentials, for Lambda or STS."""

    outcome = outcomes.AUTHENTICATION


class LambdaAuthorizationError(LambdaInvokeError, AirflowFailException):
    """Exit code 3: access denied on Invoke or on AssumeRole."""

    outcome = outcomes.AUTHORIZATION


class LambdaConnectionError(LambdaInvokeError):
    """Exit code 10: endpoint unreachable, connect timeout, TLS failure to the endpoint."""

    outcome = outcomes.CONNECTION


class LambdaProxyConnectionError(LambdaConnectionError):
    """Exit code 11: proxy unreachable, proxy refused authentication (407), TLS failure to the proxy."""

    outcome = outcomes.PROXY_CONNECTION


class LambdaDataValidationError(LambdaInvokeError, AirflowFailException):
    """Exit code 20: input fields that cannot be validated, or parameters the service rejected."""

    outcome = outcomes.DATA_VALIDATION


class LambdaReadTimeoutError(LambdaInvokeError, AirflowFailException):
    """Exit code 21: no response within ``wait_for_completion_timeout``; never retried."""

    outcome = outcomes.READ_TIMEOUT


#: Each failure outcome's class, by the name the exit-code table gives it.
_CLASSES: dict[str, type[LambdaInvokeError]] = {
    outcome.key: globals()[outcome.exception] for outcome in outcomes.OUTCOMES if outcome.exception
}


def exception_for_exit_code(exit_code: int) -> type[LambdaInvokeError]:
    """The exception class for an exit code (an unknown code is :class:`LambdaFailError`'s)."""
    return _CLASSES[outcomes.failure_outcome(exit_code).key]


def public(failure: InvocationFailure) -> LambdaInvokeError:
    """
    ``failure`` as the contract's class for its outcome (itself when it is one already).

    The new exception keeps the failure's cause and traceback, so ``raise public(f)`` reads as
    the failure did.
    """
    if isinstance(failure, LambdaInvokeError):
        return failure
    error = _CLASSES[failure.outcome.key](
        failure.detail, problems=failure.problems, proxy_url=failure.proxy_url, output=failure.output
    )
    error.__cause__ = failure.__cause__
    return error.with_traceback(failure.__traceback__)
