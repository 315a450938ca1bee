"""The extension's outcomes: exit codes, statuses and their wording, and the failure that carries one.

:data:`OUTCOMES` is the exit-code table of ue-aws-lambda (what the command line exits with, what
the output document says, which exception the operator raises and whether Airflow may retry it).
:class:`InvocationFailure` is how the path shared by the operator, the trigger and the command
line reports a failure: one class, its :class:`Outcome` says which. Nothing here imports Airflow,
so that ``lambda-ue invoke`` without an Airflow connection never loads it (over a second and
~80 MiB). The operator and the hook raise the contract's Airflow-derived classes instead, one per
outcome (:mod:`airflow_provider_lambda_ue.exceptions`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """
    One row of the exit-code table.

    :param key: Its name here (``READ_TIMEOUT``).
    :param exit_code: The process's exit code and the document's ``exit_code``.
    :param status: The seed's status classification code.
    :param wording: The status description in the seed's words; ``{detail}`` stands for what went
        wrong, ``{proxy_url}`` for the proxy (without credentials).
    :param exception: The class :mod:`~airflow_provider_lambda_ue.exceptions` raises (None: success).
    :param retried: Whether Airflow may retry the task; False for what a retry cannot mend or
        must not do (run the function again).
    :param raised_for: What it is raised for, in a few words (the docs' table).
    """

    key: str
    exit_code: int
    status: str
    wording: str
    exception: str | None
    retried: bool
    raised_for: str

    def describe(self, detail: str = "", proxy_url: str | None = None) -> str:
        """The status description: the wording with the detail (and the proxy) filled in."""
        text = self.wording.format(detail=detail, proxy_url=proxy_url or "")
        return text.rstrip(": ") if "{detail}" in self.wording and not detail else text


SUCCESS = Outcome(
    "SUCCESS", 0, "SUCCESS", "SUCCESS: AWS Lambda function invoked successfully", None, True, "invoked"
)
DECODE_WARNING = Outcome(
    "DECODE_WARNING",
    0,
    "DECODE_WARNING",
    "DECODE_WARNING: AWS Lambda function invoked successfully, but log message could not be decoded",
    None,
    True,
    "invoked, but the log tail is not valid base64 (a warning in the task log)",
)
FAIL = Outcome(
    "FAIL",
    1,
    "FAIL",
    "FAIL: {detail}",
    "LambdaFailError",
    True,
    "unknown function, service errors, throttling left after retries, anything unforeseen",
)
FUNCTION_ERROR = Outcome(
    "FUNCTION_ERROR",
    1,
    "FAIL",
    "FAIL: {detail}",
    "LambdaFunctionError",
    True,
    "the function ran and reported an error (fail_on_function_error)",
)
FULL_LOG = Outcome(
    "FULL_LOG",
    1,
    "FAIL",
    "FAIL: {detail}",
    "LambdaFullLogError",
    False,
    "the function ran, but its complete log could not be read (full_log_required)",
)
AUTHENTICATION = Outcome(
    "AUTHENTICATION",
    2,
    "AUTHENTICATION_ERROR",
    "AUTHENTICATION_ERROR: Account cannot be authenticated.",
    "LambdaAuthenticationError",
    False,
    "bad, missing or expired credentials, bad signature, for Lambda or STS",
)
AUTHORIZATION = Outcome(
    "AUTHORIZATION",
    3,
    "AUTHORIZATION_ERROR",
    "AUTHORIZATION_ERROR: Account is not authorized to perform the requested action.",
    "LambdaAuthorizationError",
    False,
    "access denied on Invoke or on AssumeRole",
)
CONNECTION = Outcome(
    "CONNECTION",
    10,
    "CONNECTION_ERROR",
    "CONNECTION_ERROR: {detail}",
    "LambdaConnectionError",
    True,
    "endpoint unreachable, connect timeout, TLS failure to the endpoint",
)
PROXY_CONNECTION = Outcome(
    "PROXY_CONNECTION",
    11,
    "CONNECTION_ERROR",
    "CONNECTION_ERROR: ProxyConnectionError: Failed to connect to proxy URL {proxy_url}",
    "LambdaProxyConnectionError",
    True,
    "proxy unreachable, proxy refused authentication (407), TLS failure to the proxy",
)
DATA_VALIDATION = Outcome(
    "DATA_VALIDATION",
    20,
    "DATA_VALIDATION_ERROR",
    "DATA_VALIDATION_ERROR: Some of the input fields cannot be validated. {detail}",
    "LambdaDataValidationError",
    False,
    "bad fields (before any network call) and the service's own parameter rejections",
)
READ_TIMEOUT = Outcome(
    "READ_TIMEOUT",
    21,
    "READ_TIMEOUT_ERROR",
    "READ_TIMEOUT_ERROR: Did not receive a server response within the allotted time frame "
    "(wait_for_completion_timeout).",
    "LambdaReadTimeoutError",
    False,
    "no response within wait_for_completion_timeout; never a second execution",
)

#: The exit-code table, in exit-code order.
OUTCOMES: tuple[Outcome, ...] = (
    SUCCESS,
    DECODE_WARNING,
    FAIL,
    FUNCTION_ERROR,
    FULL_LOG,
    AUTHENTICATION,
    AUTHORIZATION,
    CONNECTION,
    PROXY_CONNECTION,
    DATA_VALIDATION,
    READ_TIMEOUT,
)
BY_KEY: dict[str, Outcome] = {outcome.key: outcome for outcome in OUTCOMES}


def failure_outcome(exit_code: int) -> Outcome:
    """The failure outcome of an exit code (the first of its rows; an unknown code is ``FAIL``)."""
    return next((o for o in OUTCOMES if o.exit_code == exit_code and o.exception), FAIL)


class InvocationFailure(Exception):
    """
    A failed invocation: its outcome, what went wrong, and the output document once built.

    :param outcome: The row of :data:`OUTCOMES`.
    :param detail: What went wrong: the status description's ``{detail}``, or added to the message
        where the seed's wording is fixed. Must not contain secrets.
    :param problems: For ``DATA_VALIDATION``: one entry per bad field, each naming the field (the
        detail, when none is given).
    :param proxy_url: For ``PROXY_CONNECTION``: the proxy URL, without credentials.
    :param output: The output document of the failed invocation, when it has been built.
    """

    def __init__(
        self,
        outcome: Outcome,
        detail: str = "",
        *,
        problems: Iterable[str] = (),
        proxy_url: str | None = None,
        output: dict[str, Any] | None = None,
    ) -> None:
        self.outcome = outcome
        self.problems = list(problems)
        self.detail = detail or "; ".join(self.problems)
        self.proxy_url = proxy_url
        self.output = output
        message = self.status_description
        if self.detail and "{detail}" not in outcome.wording:
            message = f"{message} ({self.detail})"
        super().__init__(message)

    @property
    def exit_code(self) -> int:
        """The contract's exit code."""
        return self.outcome.exit_code

    @property
    def status(self) -> str:
        """The seed's status classification code."""
        return self.outcome.status

    @property
    def status_description(self) -> str:
        """The status description as the seed words it."""
        return self.outcome.describe(self.detail, self.proxy_url)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's default pickling replays ``args`` (the message) only, which would lose the
        # outcome and the keyword arguments (subprocesses, triggers).
        state = (self.outcome.key, self.detail, self.problems, self.proxy_url, self.output)
        return (_rebuild, (type(self), state))


def _rebuild(cls: type[InvocationFailure], state: tuple[Any, ...]) -> InvocationFailure:
    key, detail, problems, proxy_url, output = state
    failure = cls.__new__(cls)
    InvocationFailure.__init__(
        failure, BY_KEY[key], detail, problems=problems, proxy_url=proxy_url, output=output
    )
    return failure
