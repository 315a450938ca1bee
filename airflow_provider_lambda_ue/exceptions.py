"""The exit-code taxonomy of ue-aws-lambda as Airflow exceptions: the contract's public classes.

Each class here derives from the Airflow-free class of the same name in :mod:`.taxonomy` (which
holds the behaviour) and from Airflow's exception. Importing this module registers them with the
taxonomy, so that from then on the shared path builds these classes (see :mod:`.taxonomy`). Every
exception carries ``exit_code``, ``status`` (the seed's status classification code),
``status_description`` (the seed's wording) and ``output`` (the output document, once built).
Failures that retrying cannot help (2, 3, 20, 21) also derive from Airflow's
:class:`~airflow.sdk.exceptions.AirflowFailException`, so Airflow does not retry them; 21 in
particular must never run the function a second time.

The classifier that maps wire failures onto them is :mod:`airflow_provider_lambda_ue.classifier`;
its names stay importable from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_lambda_ue import taxonomy as _core
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


class LambdaInvokeError(_core.LambdaInvokeError, AirflowException):
    """
    Base class of every failure of an invocation.

    :param detail: What went wrong, for the status description where the seed has a placeholder,
        and for the exception message otherwise. Must not contain secrets.
    :param output: The output document of the failed invocation, when it has been built.
    """


class LambdaFailError(LambdaInvokeError, _core.LambdaFailError):
    """Exit code 1: failed invocation (unknown function, service error, throttling left, the unforeseen)."""


class LambdaFunctionError(LambdaFailError, _core.LambdaFunctionError):
    """Exit code 1: the function ran and reported an error (``X-Amz-Function-Error``)."""


class LambdaFullLogError(LambdaFailError, _core.LambdaFullLogError, AirflowFailException):
    """
    Exit code 1: the function ran, but its complete log could not be read (``full_log_required``).

    Not retried by Airflow: a retry would run the function again to read a log.
    """


class LambdaAuthenticationError(LambdaInvokeError, _core.LambdaAuthenticationError, AirflowFailException):
    """Exit code 2: bad, missing or expired credentials, for Lambda or STS."""


class LambdaAuthorizationError(LambdaInvokeError, _core.LambdaAuthorizationError, AirflowFailException):
    """Exit code 3: access denied on Invoke or on AssumeRole."""


class LambdaConnectionError(LambdaInvokeError, _core.LambdaConnectionError):
    """Exit code 10: endpoint unreachable, connect timeout, TLS failure to the endpoint."""


class LambdaProxyConnectionError(LambdaConnectionError, _core.LambdaProxyConnectionError):
    """
    Exit code 11: proxy unreachable, proxy refused authentication (407), TLS failure to the proxy.

    :param proxy_url: The proxy URL, without credentials.
    """


class LambdaDataValidationError(LambdaInvokeError, _core.LambdaDataValidationError, AirflowFailException):
    """
    Exit code 20: input fields that cannot be validated, or parameters the service rejected.

    :param problems: One entry per bad field, each naming the field.
    """


class LambdaReadTimeoutError(LambdaInvokeError, _core.LambdaReadTimeoutError, AirflowFailException):
    """Exit code 21: no response within ``wait_for_completion_timeout``; never retried."""


_PUBLIC_CLASSES: tuple[type[LambdaInvokeError], ...] = (
    LambdaInvokeError,
    LambdaFailError,
    LambdaFunctionError,
    LambdaFullLogError,
    LambdaAuthenticationError,
    LambdaAuthorizationError,
    LambdaConnectionError,
    LambdaProxyConnectionError,
    LambdaDataValidationError,
    LambdaReadTimeoutError,
)
for _public in _PUBLIC_CLASSES:
    # Each public class's core is the taxonomy class of the same name.
    _core.register_public(getattr(_core, _public.__name__), _public)

# The table is the taxonomy's; with the classes above registered it answers with them.
exception_for_exit_code = _core.exception_for_exit_code


# The classifier's names, importable from here as before; loaded on first use so that importing
# the exceptions alone does not load the classifier.
def __getattr__(name: str) -> Any:
    from airflow_provider_lambda_ue import classifier

    if name in classifier.__all__:
        return getattr(classifier, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
