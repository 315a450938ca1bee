"""Durable functions on the local endpoint, with AWS's own local runner as their control plane.

The control plane is the durable-execution testing SDK's ``WebRunner`` (what ``dex-local-runner
start-server`` runs), started inside the server process on a loopback port the first time a
durable request arrives, so endpoints that never see one pay nothing for it. It keeps every
execution (memory store), drives it by invoking the function's handler at this endpoint and times
its waits and retries; nothing of that is written here. This module only connects it:

* :class:`DurableRouter` (a WSGI middleware in front of moto) forwards every ``/2025-12-01/...``
  request - ``GetDurableExecution``, ``StopDurableExecution``, ``ListDurableExecutionsByFunction``,
  history, callbacks, and the ``CheckpointDurableExecution``/``GetDurableExecutionState`` calls of
  the handlers themselves - to the runner (raw path, body and status), adapting the two requests
  where botocore and the runner disagree (:func:`translate_request`);
* :func:`invoke_durable` answers a caller's ``Invoke`` of a durable function (one created with
  ``DurableConfig``): it starts an execution in the runner, with the idempotency rules of Lambda's
  execution names, which the runner does not implement (it starts a new execution for every start):
  the same ``DurableExecutionName`` with the same payload returns the existing execution, another
  payload is ``DurableExecutionAlreadyStartedException`` (409). ``Event`` answers 202 with
  ``X-Amz-Durable-Execution-Arn``; ``RequestResponse`` waits (15 minutes at most) for the execution
  to close and answers its result, or its error with ``X-Amz-Function-Error: Unhandled``.

The runner's own handler invocations carry its ``X-Dex-Handler-Invoke: true`` header
(:func:`is_handler_invocation`); the executor runs those like any invocation, and the durable SDK
in the handler checkpoints back through this endpoint (``AWS_ENDPOINT_URL``).

Needs ``aws-durable-execution-sdk-python-testing`` (Python 3.11 or newer, in the ``test`` extra);
without it a durable request is answered with a ``ServiceException`` that says so. Server process
only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_lambda_ue.testing.local_lambda.common import LambdaApiError
from airflow_provider_lambda_ue.testing.local_lambda.durable_runner import (
    DURABLE_API_PREFIX,
    DurableRunner,
    DurableRunnerError,
)

log = logging.getLogger(__name__)

HANDLER_INVOKE_HEADER = "X-Dex-Handler-Invoke"
"""Header the runner puts on its handler invocations (the testing SDK's ``INVOCATION_MARKER_HEADER``)."""

EXECUTION_NAME_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")
"""``DurableExecutionName``: 1 to 64 letters, digits, ``-`` and ``_``."""

SYNC_INVOKE_LIMIT_SECONDS = 900.0
"""A synchronous invocation of a durable function waits at most 15 minutes, like Lambda's."""

DEFAULT_EXECUTION_TIMEOUT_SECONDS = 86400
"""``DurableConfig.ExecutionTimeout`` when the function's configuration gives none."""

DEFAULT_RETENTION_DAYS = 14
"""``DurableConfig.RetentionPeriodInDays`` default, as documented."""

_TERMINAL_POLL_SECONDS = 0.1


# --------------------------------------------------------------------------------------------------
# The WSGI middleware: the durable-execution API goes to the runner, everything else to moto.
# --------------------------------------------------------------------------------------------------


def _raw_path(environ: dict[str, Any]) -> str:
    """The request's path and query as sent, percent-encoding kept (an ARN's ``/`` stays ``%2F``)."""
    raw = str(environ.get("REQUEST_URI") or environ.get("RAW_URI") or "")
    if not raw:
        raw = urllib.parse.quote(str(environ.get("PATH_INFO", "")))
        if environ.get("QUERY_STRING"):
            raw += "?" + str(environ["QUERY_STRING"])
    return raw


def translate_request(method: str, raw_path: str, body: bytes) -> tuple[str, bytes, list[str]]:
    """
    Adapt a botocore request to what the runner reads, where the two disagree.

    * ``ListDurableExecutionsByFunction``: botocore sends ``Statuses`` (repeatable), the runner reads
      one ``StatusFilter``. One status is renamed; several are left out of the runner's query and
      returned, for :func:`filter_statuses` to apply to the runner's page.
    * ``StopDurableExecution``: botocore sends the ``Error`` object as the whole body (the member is
      the request's payload), the runner reads ``{"Error": {...}}``.

    :param method: HTTP method.
    :param raw_path: Raw path and query.
    :param body: Request body.
    :return: The path and body for the runner, and the statuses still to filter by.
    """
    path, _, query = raw_path.partition("?")
    statuses: list[str] = []
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        statuses = [value for key, value in pairs if key == "Statuses"]
        if len(statuses) == 1:
            pairs = [("StatusFilter" if key == "Statuses" else key, value) for key, value in pairs]
            statuses = []
        elif statuses:
            pairs = [(key, value) for key, value in pairs if key != "Statuses"]
        path = f"{path}?{urllib.parse.urlencode(pairs)}" if pairs else path
    if method == "POST" and raw_path.partition("?")[0].endswith("/stop") and body:
        with contextlib.suppress(ValueError):
            document = json.loads(body)
            if isinstance(document, dict) and "Error" not in document:
                body = json.dumps({"Error": document}).encode()
    return path, body, statuses


def filter_statuses(body: bytes, statuses: Iterable[str]) -> bytes:
    """
    Keep the listed executions whose status is one of ``statuses``.

    A page may come out short; its ``NextMarker`` still continues where the runner's page ended.

    :param body: The runner's ``ListDurableExecutionsByFunction`` answer.
    :param statuses: The statuses asked for.
    :return: The filtered answer.
    """
    wanted = set(statuses)
    document = json.loads(body)
    document["DurableExecutions"] = [
        item for item in document.get("DurableExecutions") or [] if item.get("Status") in wanted
    ]
    return json.dumps(document).encode()


class DurableRouter:
    """
    WSGI middleware: ``/2025-12-01/...`` (the durable-execution API) to the runner, the rest to moto.

    :param app: moto's WSGI application.
    :param runner: The durable runner.
    """

    def __init__(self, app: Callable[..., Any], runner: DurableRunner) -> None:
        self.app = app
        self.runner = runner

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve one request (the WSGI entry point)."""
        if not str(environ.get("PATH_INFO", "")).startswith(DURABLE_API_PREFIX):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path, body, statuses = translate_request(method, _raw_path(environ), body)
        try:
            status, headers, data = self.runner.request(method, path, body)
        except DurableRunnerError as exc:
            status, headers, data = exc.status, [], exc.body
        except OSError as exc:
            status, headers = 500, []
            data = json.dumps(
                {"Type": "ServiceException", "Message": f"durable runner unreachable: {exc}"}
            ).encode()
        if statuses and status == 200:
            data = filter_statuses(data, statuses)
        kept = [
            (k, v) for k, v in headers if k.lower() not in ("content-length", "connection", "server", "date")
        ]
        if not any(k.lower() == "content-type" for k, _ in kept):
            kept.append(("Content-Type", "application/json"))
        if status >= 400:
            error_type = _error_type(data)
            if error_type:
                # botocore's rest-json parser reads the error code from this header first.
                kept.append(("x-amzn-ErrorType", error_type))
        kept.append(("Content-Length", str(len(data))))
        reason = http.client.responses.get(status, "Unknown")
        start_response(f"{status} {reason}", kept)
        return [data]


def _error_type(body: bytes) -> str | None:
    """The error code of a runner error body (``Type``, or the one exception that has none)."""
    with contextlib.suppress(ValueError, AttributeError):
        document = json.loads(body)
        if document.get("Type"):
            return str(document["Type"])
        if "DurableExecutionArn" in document:
            return "DurableExecutionAlreadyStartedException"
    return None


# --------------------------------------------------------------------------------------------------
# A caller's Invoke of a durable function.
# --------------------------------------------------------------------------------------------------


def is_handler_invocation(header: Callable[[str], str | None]) -> bool:
    """
    Whether an Invoke is the runner's own invocation of a handler (run it) rather than a caller's.

    :param header: Case-insensitive lookup of the request's headers.
    :return: True when the runner's marker header is ``true``.
    """
    return (header(HANDLER_INVOKE_HEADER) or "").lower() == "true"


def _same_payload(stored: str | None, event: str) -> bool:
    """Payloads are the same when their JSON values are (key order and spacing aside)."""
    try:
        return bool(json.loads(stored or "{}") == json.loads(event or "{}"))
    except ValueError:
        return (stored or "") == (event or "")


def _find_or_start(
    runner: DurableRunner,
    *,
    function_name: str,
    qualifier: str | None,
    account_id: str,
    execution_name: str,
    event: str,
    durable_config: dict[str, Any],
) -> str:
    """The ARN of the execution named ``execution_name``: the existing one, or a new one."""
    with runner.start_lock:
        for existing in runner.find_executions(function_name, execution_name):
            if not _same_payload(existing.get("InputPayload"), event):
                raise LambdaApiError(
                    "DurableExecutionAlreadyStartedException",
                    f"A durable execution named {execution_name} already exists for function "
                    f"{function_name} with a different payload: {existing['DurableExecutionArn']}",
                    409,
                )
            return str(existing["DurableExecutionArn"])
        timeout = durable_config.get("ExecutionTimeout") or DEFAULT_EXECUTION_TIMEOUT_SECONDS
        retention = durable_config.get("RetentionPeriodInDays") or DEFAULT_RETENTION_DAYS
        return runner.start_execution(
            {
                "AccountId": account_id,
                "FunctionName": function_name,
                "FunctionQualifier": qualifier or "$LATEST",
                "ExecutionName": execution_name,
                "ExecutionTimeoutSeconds": int(timeout),
                "ExecutionRetentionPeriodDays": int(retention),
                "Input": event,
            }
        )


def _wait_closed(runner: DurableRunner, arn: str, limit: float) -> dict[str, Any] | None:
    """Poll the execution until it is no longer RUNNING; None when ``limit`` seconds pass first."""
    deadline = time.monotonic() + limit
    while True:
        execution = runner.get_execution(arn)
        if execution.get("Status") != "RUNNING":
            return execution
        if time.monotonic() >= deadline:
            return None
        time.sleep(_TERMINAL_POLL_SECONDS)


def invoke_durable(
    runner: DurableRunner,
    *,
    function_name: str,
    qualifier: str | None,
    account_id: str,
    durable_config: dict[str, Any],
    invocation_type: str,
    execution_name: str | None,
    event: str,
    response_headers: dict[str, str],
) -> bytes:
    """
    Answer a caller's ``Invoke`` of a durable function: start (or find) its execution in the runner.

    :param runner: The durable runner.
    :param function_name: The function's name.
    :param qualifier: The qualifier of the invocation (None for ``$LATEST``).
    :param account_id: The function's account.
    :param durable_config: The function's ``DurableConfig``.
    :param invocation_type: ``Event`` or ``RequestResponse``.
    :param execution_name: ``DurableExecutionName`` (a unique one is generated when None).
    :param event: The payload (JSON text), the execution's input.
    :param response_headers: Headers of the response, filled in here.
    :return: The response body: empty for ``Event``, the result or the error object otherwise.
    """
    if execution_name is not None and not EXECUTION_NAME_PATTERN.fullmatch(execution_name):
        raise LambdaApiError(
            "InvalidParameterValueException",
            "DurableExecutionName must be 1 to 64 characters of letters, digits, '-' and '_'",
            400,
        )
    try:
        arn = _find_or_start(
            runner,
            function_name=function_name,
            qualifier=qualifier,
            account_id=account_id,
            execution_name=execution_name or str(uuid.uuid4()),
            event=event,
            durable_config=durable_config,
        )
    except DurableRunnerError as exc:
        raise LambdaApiError("ServiceException", f"the local durable runner failed: {exc}", 500) from exc
    response_headers["X-Amz-Durable-Execution-Arn"] = arn
    response_headers["X-Amz-Executed-Version"] = qualifier if qualifier and qualifier.isdigit() else "$LATEST"
    if invocation_type == "Event":
        response_headers["Content-Length"] = "0"
        return b""
    limit = min(
        SYNC_INVOKE_LIMIT_SECONDS, float(durable_config.get("ExecutionTimeout") or SYNC_INVOKE_LIMIT_SECONDS)
    )
    payload, failed = _sync_answer(_wait_closed(runner, arn, limit + 1.0), limit)
    if failed:
        response_headers["X-Amz-Function-Error"] = "Unhandled"
    response_headers["Content-Length"] = str(len(payload))
    return payload


def _sync_answer(execution: dict[str, Any] | None, limit: float) -> tuple[bytes, bool]:
    """
    What a synchronous ``Invoke`` answers once the execution closed, or ``limit`` seconds passed.

    :param execution: The closed execution, None when the wait ran out.
    :param limit: The seconds waited at most.
    :return: The payload (the result, or Lambda's error object) and whether it is an error.
    """
    if execution is not None and execution.get("Status") == "SUCCEEDED":
        return str(execution.get("Result") or "null").encode("utf-8"), False
    error: dict[str, Any]
    if execution is None:
        error = {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"The synchronous invocation ended after {limit:.0f} seconds; the "
            "durable execution goes on",
        }
    else:
        failure = execution.get("Error") or {}
        error = {
            "errorType": failure.get("ErrorType") or execution.get("Status"),
            "errorMessage": failure.get("ErrorMessage") or f"Execution {execution.get('Status')}",
        }
        if failure.get("StackTrace"):
            error["stackTrace"] = failure["StackTrace"]
    return json.dumps(error).encode("utf-8"), True
