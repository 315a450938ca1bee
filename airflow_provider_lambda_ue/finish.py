"""How an answered invocation ends: Lambda's answer made into the outcome.

:func:`finish` logs the decoded log tail (and, with ``fetch_full_log``, the complete log from
CloudWatch Logs), builds the output document and decides: a success, or the failure to raise (a
function error, a status that is not a trigger, a complete log that is required and missing).
The same for an answer received on the worker, in the triggerer, or at the end of a durable
execution.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_lambda_ue import outcomes
from airflow_provider_lambda_ue.fields import INVOCATION_DRY_RUN
from airflow_provider_lambda_ue.logtail import decode_log_tail
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.output import (
    STATUS_DECODE_WARNING,
    STATUS_SUCCESS,
    TRIGGERED_STATUS_CODES,
    Invocation,
    InvokeResult,
    response_request_id,
)

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.hooks.invoker import LambdaInvokerBase

#: A function error's text is cut to this length in the status description.
MAX_ERROR_TEXT = 500


class Log(Protocol):
    """Where the path reports progress: a task's logger, or the command line's stderr logger."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


def finish(
    invocation: Invocation,
    result: InvokeResult,
    log: Log,
    *,
    hook: LambdaInvokerBase | None = None,
) -> dict[str, Any]:
    """
    Turn Lambda's answer into the outcome: log the tail (and the complete log), build the document,
    raise on failure.

    :param hook: The hook that reads the complete log (``fetch_full_log``); without one it is not read.
    :return: The output document (exit code 0: SUCCESS or DECODE_WARNING).
    :raises InvocationFailure: ``FUNCTION_ERROR`` for a function error when ``fail_on_function_error``
        is on, ``FULL_LOG`` when the complete log could not be read and ``full_log_required``.
    """
    request = invocation.request
    status = STATUS_SUCCESS
    if result.log_result:
        lines = decode_log_tail(result.log_result)
        if lines is None:
            status = STATUS_DECODE_WARNING
            log.warning("The function's log tail could not be decoded: it is not base64")
        else:
            log.info("Log tail of %s:", request.function_name)
            for line in lines:
                log.info("| %s", line)
    log.info(
        "Lambda answered %s (executed version %s, request id %s)",
        result.status_code,
        result.executed_version or "n/a",
        result.request_id or "n/a",
    )
    if result.status_code not in TRIGGERED_STATUS_CODES:
        error = InvocationFailure(outcomes.FAIL, f"unexpected status code {result.status_code}")
        raise invocation.failed(error, result)
    missing = _stream_full_log(invocation, result, log, hook) if hook is not None else None
    if result.function_error:
        description = describe_function_error(result)
        if request.fail_on_function_error:
            raise invocation.failed(InvocationFailure(outcomes.FUNCTION_ERROR, description), result)
        log.warning("The function reported an error (fail_on_function_error is off): %s", description)
    if missing is not None:
        raise invocation.failed(InvocationFailure(outcomes.FULL_LOG, missing), result)
    return invocation.document(0, status, result)


def describe_function_error(result: InvokeResult) -> str:
    """``Function error (Unhandled): ValueError: message``, from Lambda's error object."""
    kind = result.function_error or "Unhandled"
    error_type, message = "", ""
    try:
        body = json.loads(result.payload or "")
    except ValueError:
        message = result.payload or ""
    else:
        if isinstance(body, dict):
            error_type = str(body.get("errorType") or "")
            message = str(body.get("errorMessage") or "")
        elif body is not None:
            message = str(body)
    text = ": ".join(part for part in (error_type, message) if part)
    if len(text) > MAX_ERROR_TEXT:
        text = text[: MAX_ERROR_TEXT - 3] + "..."
    return f"Function error ({kind})" + (f": {text}" if text else "")


def error_request_id(error: BaseException) -> str | None:
    """
    The request id of the service's answer to Invoke behind a failure (a service error), else None.

    Only Invoke's: a failure of STS (the role) carries STS's request id, which is not the invocation's.
    """
    cause = error.__cause__ if isinstance(error, InvocationFailure) else error
    response = getattr(cause, "response", None)
    if getattr(cause, "operation_name", None) != "Invoke" or not isinstance(response, dict):
        return None
    return response_request_id(response)


def log_request_id(log: Log, request_id: str | None) -> None:
    """Name the request id of a failed Invoke in the log: what a support case needs."""
    if request_id:
        log.info("Lambda request id: %s", request_id)


def _stream_full_log(
    invocation: Invocation, result: InvokeResult, log: Log, hook: LambdaInvokerBase
) -> str | None:
    """
    With ``fetch_full_log``: stream the invocation's complete log from CloudWatch Logs into ``log``.

    Each line goes through the secrets masker first (the command line's stderr is not masked by
    Airflow). A log that cannot be read, or not to its end, is a warning.

    :return: Why the complete log is missing, when ``full_log_required`` makes that a failure; else None.
    """
    request = invocation.request
    if not request.fetch_full_log or request.invocation_type == INVOCATION_DRY_RUN:
        return None
    if not result.request_id:
        return _full_log_missing(
            log, request.full_log_required, "Lambda's answer has no request id to find the log by"
        )
    from airflow_provider_lambda_ue.fulllog import read_full_log
    from airflow_provider_lambda_ue.masking import redact

    # Where the invocation started elsewhere (the triggerer), it began at most one read timeout ago.
    since_ms = invocation.started_ms or int((time.time() - request.wait_for_completion_timeout) * 1000)
    header: list[bool] = []

    def emit(line: str) -> None:
        if not header:
            header.append(True)
            log.info(
                "Complete log of %s (request id %s) from CloudWatch Logs:",
                request.function_name,
                result.request_id,
            )
        log.info("| %s", redact(line))

    log.info(
        "Reading the complete log of request %s from CloudWatch Logs (waiting up to %d s)",
        result.request_id,
        request.full_log_timeout,
    )
    found = read_full_log(hook, request, result.request_id, emit=emit, since_ms=since_ms)
    where = found.log_group + (f", stream {found.log_stream}" if found.log_stream else "")
    if found.complete:
        log.info("End of the complete log: %d events (%s)", found.events, where)
        return None
    if found.truncated:
        log.warning("The complete log is cut: %s (%s)", found.problem, where)
        return None
    problem = found.problem or "not found"
    if found.denied:
        problem += " (the credentials need logs:FilterLogEvents and logs:GetLogEvents on the log group)"
    if found.events:
        problem = f"{found.events} events read, then: {problem}"
    return _full_log_missing(log, request.full_log_required, f"{problem} ({where})")


def _full_log_missing(log: Log, required: bool, problem: str) -> str | None:
    """Warn that the complete log is missing; return the failure's detail if it is required."""
    from airflow_provider_lambda_ue.masking import redact

    problem = redact(problem)  # an error's text may quote a URL with credentials
    if required:
        return f"the function ran, but its complete log could not be read: {problem}"
    log.warning("The complete log could not be read (full_log_required is off): %s", problem)
    return None
