"""The invocation's complete log, read from CloudWatch Logs after it ends (``fetch_full_log``).

Lambda returns at most the last 4 KB of a synchronous invocation's log and nothing for an Event
invocation; the whole log is in the function's log group. This module finds it and streams it:

1. **The log group**: the function's ``LoggingConfig.LogGroup`` (``GetFunctionConfiguration``,
   through the Lambda client), else ``/aws/lambda/<name>`` (also when that call is not allowed).
2. **The stream**: ``FilterLogEvents`` for the request id (a quoted term) from a little before the
   invocation began; its first event is the invocation's ``START`` line (``platform.start`` with
   the JSON log format), and names the stream of the execution environment that ran it.
3. **The lines**: ``GetLogEvents`` on that stream, forward from the ``START`` line, page by page
   (10,000 events a page), until the invocation's ``REPORT`` line (text) or ``platform.report``
   record (JSON). A stream holds one invocation at a time, so everything between them is this
   invocation's, whatever the format.

CloudWatch ingests with a delay of seconds, and an Event invocation may still be running: each
step polls (every :data:`POLL_SECONDS`, backing off to :data:`MAX_POLL_SECONDS`) until
``full_log_timeout`` seconds have passed. At most :data:`MAX_EVENTS` events are read: a longer log
is cut there, with a warning. Nothing here raises: the outcome says what was found and why the
log is missing or incomplete; the caller decides whether that is a warning or a failure
(``full_log_required``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.hooks.invoker import LambdaInvokerBase
    from airflow_provider_lambda_ue.request import InvokeRequest

#: Events read at most per invocation; the rest of a longer log is left out (with a warning).
MAX_EVENTS = 100_000
#: Events per ``GetLogEvents`` page (the API's maximum).
PAGE_EVENTS = 10_000
#: First wait between two polls, in seconds; it doubles up to :data:`MAX_POLL_SECONDS`.
POLL_SECONDS = 0.5
MAX_POLL_SECONDS = 5.0
#: The search starts this long before the caller's idea of when the invocation began: clocks of
#: the caller and of Lambda differ, and a throttled Invoke may have been sent again later.
CLOCK_SKEW_MS = 5 * 60 * 1000

#: Error codes meaning "not allowed": missing ``logs:`` (or ``lambda:``) permissions.
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "403"})


@dataclass
class FullLog:
    """
    What was found of an invocation's log.

    :param log_group: The group searched.
    :param log_stream: The stream holding the invocation, once found.
    :param events: Events streamed to the log.
    :param complete: The invocation's ``REPORT`` (or ``platform.report``) was reached.
    :param truncated: :data:`MAX_EVENTS` was reached first.
    :param problem: Why it is missing or incomplete (None when complete).
    :param denied: The problem is a missing permission.
    """

    log_group: str
    log_stream: str | None = None
    events: int = 0
    complete: bool = False
    truncated: bool = False
    problem: str | None = None
    denied: bool = False


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def _may_pass(exc: BaseException) -> bool:
    """Whether a failed call may succeed when made again: throttling, a server error, the network."""
    from airflow_provider_lambda_ue import outcomes
    from airflow_provider_lambda_ue.classifier import RETRY_SAFE_ERROR_CODES, classify

    response = getattr(exc, "response", None)
    status = (
        (response or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(response, dict)
        else None
    )
    if _error_code(exc) in RETRY_SAFE_ERROR_CODES or (isinstance(status, int) and status >= 500):
        return True
    return classify(exc).outcome in (outcomes.CONNECTION, outcomes.PROXY_CONNECTION, outcomes.READ_TIMEOUT)


def _describe(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    message = str(exc)
    if isinstance(response, dict):
        message = str((response.get("Error") or {}).get("Message") or "")
    return f"{_error_code(exc)}: {message}" if message else _error_code(exc)


def log_group_of(lambda_client: Any, request: InvokeRequest) -> tuple[str, str | None]:
    """
    The function's log group from its logging configuration, else the default group.

    :return: The group, and why the configuration could not be read (None when it was).
    """
    kwargs: dict[str, Any] = {"FunctionName": request.function_name}
    if request.qualifier:
        kwargs["Qualifier"] = request.qualifier
    try:
        config = lambda_client.get_function_configuration(**kwargs)
    except Exception as exc:
        return request.function.log_group, _describe(exc)
    group = (config.get("LoggingConfig") or {}).get("LogGroup")
    return (str(group) if group else request.function.log_group), None


def _ends_invocation(message: str, request_id: str) -> bool:
    """The invocation's last line: ``REPORT RequestId: <id>``, or its ``platform.report`` record."""
    if message.startswith(f"REPORT RequestId: {request_id}"):
        return True
    if '"platform.report"' not in message or request_id not in message:
        return False
    try:
        record = json.loads(message)
    except ValueError:
        return False
    return (
        isinstance(record, dict)
        and record.get("type") == "platform.report"
        and (record.get("record") or {}).get("requestId") == request_id
    )


def _starts_invocation(message: str, request_id: str) -> bool:
    """``START RequestId: <id>``, or the ``platform.start`` record of the invocation."""
    if message.startswith(f"START RequestId: {request_id}"):
        return True
    return '"platform.start"' in message and request_id in message


class FullLogReader:
    """
    Reads one invocation's log from CloudWatch Logs and hands each line to ``emit``.

    :param logs_client: Builds a boto3 CloudWatch Logs client whose calls wait at most the seconds
        it is given (a new one when less time is left than the last one waits).
    :param log_group: The function's log group.
    :param request_id: The invocation's request id.
    :param emit: Called with each line, in order.
    :param timeout: Seconds to wait, at most, for the log to appear and reach its end.
    :param since_ms: When the invocation began, epoch milliseconds (the search starts
        :data:`CLOCK_SKEW_MS` before).
    :param max_events: Events read at most.
    :param sleep: Waits between polls (``time.sleep``).
    :param clock: Monotonic clock for the deadline (``time.monotonic``).
    """

    def __init__(
        self,
        logs_client: Callable[[float], Any],
        *,
        log_group: str,
        request_id: str,
        emit: Callable[[str], None],
        timeout: float,
        since_ms: int,
        max_events: int = MAX_EVENTS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_for = logs_client
        self._client: Any = None
        self._client_timeout = 0.0
        self.request_id = request_id
        self.emit = emit
        self.since_ms = max(0, since_ms - CLOCK_SKEW_MS)
        self.max_events = max_events
        self._sleep = sleep
        self._clock = clock
        self._deadline = clock() + timeout
        self._delay = POLL_SECONDS
        self.outcome = FullLog(log_group=log_group)

    def read(self) -> FullLog:
        """Find the invocation's stream, stream its lines; the outcome says how far it got."""
        try:
            anchor = self._find_start()
            if anchor is not None:
                self._stream_from(*anchor)
        except Exception as exc:
            self.outcome.problem = _describe(exc)
            self.outcome.denied = _error_code(exc) in DENIED_CODES
        return self.outcome

    def _call(self, operation: str, **kwargs: Any) -> Any:
        """
        One CloudWatch Logs call that ends by the deadline; a failure that may pass is polled again.

        Throttling, a server error, a connection or read timeout: the reader waits and calls again
        while there is time (botocore's own retries are off, they would outlast the deadline).
        """
        while True:
            remaining = self._deadline - self._clock()
            if self._client is None or remaining < self._client_timeout:
                self._client_timeout = max(1.0, remaining)
                self._client = self._client_for(self._client_timeout)
            try:
                return getattr(self._client, operation)(**kwargs)
            except Exception as exc:
                if not _may_pass(exc) or not self._wait():
                    raise

    def _wait(self) -> bool:
        """Sleep before the next poll; False when the deadline has passed."""
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            return False
        self._sleep(min(self._delay, remaining))
        self._delay = min(self._delay * 2, MAX_POLL_SECONDS)
        return True

    def _find_start(self) -> tuple[str, int] | None:
        """The stream and timestamp of the invocation's first event, polling until it is ingested."""
        quoted = f'"{self.request_id}"'
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "logGroupName": self.outcome.log_group,
                "filterPattern": quoted,
                "startTime": self.since_ms,
                "limit": 1,
            }
            if token:
                kwargs["nextToken"] = token
            try:
                page = self._call("filter_log_events", **kwargs)
            except Exception as exc:
                # The group appears with the function's first log: wait for it like for the events.
                if _error_code(exc) != "ResourceNotFoundException":
                    raise
                page = {}
            events = page.get("events") or []
            if events:
                first = events[0]
                self.outcome.log_stream = str(first["logStreamName"])
                return self.outcome.log_stream, int(first["timestamp"])
            # Pages of a long search may be empty but go on (nextToken); a search that ended
            # without a match starts again once more events may have been ingested.
            token = page.get("nextToken")
            if token and self._clock() < self._deadline:
                continue
            if not self._wait():
                self.outcome.problem = (
                    f"no log event of request {self.request_id} in {self.outcome.log_group} "
                    "(not ingested yet, or the function never logged)"
                )
                return None

    def _stream_from(self, stream: str, start_ms: int) -> None:
        """Stream the invocation's lines from its START to its REPORT, polling for the rest."""
        started = False
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "logGroupName": self.outcome.log_group,
                "logStreamName": stream,
                "startTime": start_ms,
                "startFromHead": True,
                "limit": PAGE_EVENTS,
            }
            if token:
                kwargs["nextToken"] = token
            page = self._call("get_log_events", **kwargs)
            events = page.get("events") or []
            if events:
                self._delay = POLL_SECONDS
            for event in events:
                message = str(event.get("message", "")).rstrip("\n")
                if not started:
                    # Events of the stream's previous invocation may share the START's millisecond.
                    started = _starts_invocation(message, self.request_id)
                    if not started and _ends_invocation(message, self.request_id):
                        self.outcome.problem = f"the START line of request {self.request_id} was not found"
                        return
                    if not started:
                        continue
                if self.outcome.events >= self.max_events:
                    self.outcome.truncated = True
                    self.outcome.problem = f"the log was cut after {self.max_events:,} events"
                    return
                for line in message.split("\n"):
                    self.emit(line)
                self.outcome.events += 1
                if _ends_invocation(message, self.request_id):
                    self.outcome.complete = True
                    return
            next_token = page.get("nextForwardToken")
            if next_token and next_token != token:
                # A new position (a page may be empty and still move on): read on at once.
                token = next_token
                continue
            # The end of what is ingested so far: the same token is handed back until more arrives.
            if not self._wait():
                self.outcome.problem = (
                    f"the end of request {self.request_id}'s log did not arrive in time "
                    "(the function may still be running)"
                )
                return


def read_full_log(
    hook: LambdaInvokerBase,
    request: InvokeRequest,
    request_id: str,
    *,
    emit: Callable[[str], None],
    since_ms: int,
) -> FullLog:
    """
    Stream an invocation's complete log from CloudWatch Logs, with the hook's clients.

    The log group comes from the function's logging configuration (``GetFunctionConfiguration``
    with the hook's Lambda client), else ``/aws/lambda/<name>``; the Logs client is
    :meth:`~airflow_provider_lambda_ue.hooks.lambda_invoke.LambdaInvokerBase.logs_client`.

    :param hook: The invocation's hook (credentials, role, proxies, CA bundle, endpoints).
    :param request: The validated request (function, qualifier, ``full_log_timeout``, endpoint).
    :param request_id: The invocation's request id.
    :param emit: Receives each line, in order.
    :param since_ms: When the invocation began (epoch milliseconds).
    :return: What was found; never raises for a missing log or permission.
    """
    started = time.monotonic()  # the whole read, the log group's lookup included, within the timeout
    try:
        lambda_client: Any = hook.lambda_client()
    except Exception as exc:
        return FullLog(log_group=request.function.log_group, problem=f"{type(exc).__name__}: {exc}")
    group, why = log_group_of(lambda_client, request)
    if why:
        hook.log.info("Could not read the function's logging configuration (%s); reading %s", why, group)

    def logs_client(timeout: float) -> Any:
        return hook.logs_client(request.logs_endpoint_url, timeout=timeout)

    reader = FullLogReader(
        logs_client,
        log_group=group,
        request_id=request_id,
        emit=emit,
        timeout=request.full_log_timeout - (time.monotonic() - started),
        since_ms=since_ms,
    )
    return reader.read()
