"""The one path from fields to result, shared by the operator, its deferred completion and the command line.

``validate -> hook.invoke -> finish``: the callers differ only in where the fields come from and
where the document goes (XCom, stdout). Every outcome ends in an output document: returned on
success, attached as ``.output`` to the raised exception on failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_lambda_ue.classifier import classify
from airflow_provider_lambda_ue.durable import (
    FAILED_STATUSES,
    STATUS_FAILED,
    STATUS_RUNNING,
    STATUS_SUCCEEDED,
    DurableExecution,
    DurablePolicy,
    DurableStart,
    generation_name,
    next_poll_delay,
    with_execution,
)
from airflow_provider_lambda_ue.fields import (
    INVOCATION_DRY_RUN,
    INVOCATION_EVENT,
    LOG_TYPE_TAIL,
    URL_FIELDS,
    InvokeRequest,
    LambdaInvokeFields,
)
from airflow_provider_lambda_ue.logtail import decode_log_tail
from airflow_provider_lambda_ue.masking import mask_inline_url_passwords
from airflow_provider_lambda_ue.output import (
    STATUS_DECODE_WARNING,
    STATUS_SUCCESS,
    TRIGGERED_STATUS_CODES,
    InvokeResult,
    build_document,
    document_fields,
    response_request_id,
)
from airflow_provider_lambda_ue.proxy_credentials import ProxyCredentialSource, proxy_credential_source
from airflow_provider_lambda_ue.taxonomy import (
    LambdaFailError,
    LambdaFullLogError,
    LambdaFunctionError,
    LambdaInvokeError,
    LambdaProxyConnectionError,
    LambdaReadTimeoutError,
    exception_for_exit_code,
)
from airflow_provider_lambda_ue.validation import validate

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.fulllog import FullLog
    from airflow_provider_lambda_ue.hooks.invoker import LambdaInvokerBase
    from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook

_MAX_ERROR_TEXT = 500


class Log(Protocol):
    """Where the path reports progress: a task's logger, or the command line's stderr logger."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


@dataclass
class Invocation:
    """
    One invocation's state along the path: the raw fields, and what has been resolved so far.

    :param raw: The fields as given.
    :param request: The validated request, once validation passed.
    :param credentials_set: Whether AWS credentials came from a connection (None: not resolved).
    :param proxy_credentials_set: Whether proxy credentials were resolved (None: not resolved).
    :param proxy_source: Where the proxy credentials come from, decided once with validation.
    :param started_ms: When Invoke was first sent (epoch milliseconds), where this process sent it.
    """

    raw: LambdaInvokeFields
    request: InvokeRequest | None = None
    credentials_set: bool | None = None
    proxy_credentials_set: bool | None = None
    proxy_source: ProxyCredentialSource | None = field(default=None, repr=False)
    started_ms: int | None = None

    def fields_section(self) -> dict[str, Any]:
        """The document's ``invocation.fields``."""
        return document_fields(
            self.request,
            self.raw,
            credentials_set=self.credentials_set,
            proxy_credentials_set=self.proxy_credentials_set,
        )

    def document(
        self,
        exit_code: int,
        status_description: str,
        result: InvokeResult | None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """The output document for an outcome (``request_id``: of a service error, without result)."""
        return build_document(
            exit_code=exit_code,
            status_description=status_description,
            fields=self.fields_section(),
            result=result,
            request_id=request_id,
        )

    def failed(
        self,
        error: LambdaInvokeError,
        result: InvokeResult | None = None,
        *,
        request_id: str | None = None,
    ) -> LambdaInvokeError:
        """
        Attach the failure's document to ``error`` and return it, for the caller to raise.

        :param result: What Lambda answered, when it answered Invoke (a function error).
        :param request_id: The request id of the service's error answer to Invoke, if any.
        """
        error.output = self.document(error.exit_code, error.status_description, result, request_id)
        return error


def prepare(
    raw: LambdaInvokeFields, log: Log, *, proxy_environ: Mapping[str, str] | None = None
) -> Invocation:
    """
    Validate the fields (no network, no connection lookup).

    :param proxy_environ: The environment whose ``LAMBDA_UE_PROXY_*`` variables are a source of
        proxy credentials (the command line's ``os.environ``); None: only ``proxy_conn_id`` is.
    :raises LambdaDataValidationError: With the document attached, naming every bad field.
    """
    # Before anything can quote them: a password written inline in a URL field (which validation
    # rejects) is masked in every log line, Airflow's or the command line's.
    mask_inline_url_passwords(*(getattr(raw, name) for name in URL_FIELDS))
    invocation = Invocation(raw=raw)
    try:
        invocation.request = validate(raw, proxy_environ=proxy_environ)
    except LambdaInvokeError as err:
        raise invocation.failed(err) from None
    request = invocation.request
    invocation.proxy_source = proxy_credential_source(request.proxy_conn_id, environ=proxy_environ)
    if request.log_type == LOG_TYPE_TAIL and request.invocation_type == INVOCATION_EVENT:
        log.info("log_type Tail is not sent with Event invocations: Lambda returns no log for them")
    if raw.role_arn and not request.role_based_access:
        log.info("role_arn is set but role_based_access is off: the role is not assumed")
    if request.fetch_full_log and request.invocation_type == INVOCATION_DRY_RUN:
        log.info("fetch_full_log does nothing for DryRun invocations: nothing runs, nothing is logged")
    return invocation


def build_hook(
    invocation: Invocation, *, proxy_credentials: tuple[str, str] | None = None
) -> LambdaInvokeHook:
    """
    Build the hook for a validated invocation and resolve which credentials are set.

    Reads connections but makes no network call.

    :param proxy_credentials: Proxy ``(user, password)`` given directly; by default those that
        :func:`prepare` read from its ``proxy_environ``, when they are the source.
    :raises LambdaInvokeError: With the document attached (e.g. proxy credentials missing).
    """
    from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook

    assert invocation.request is not None
    hook = LambdaInvokeHook.from_request(
        invocation.request, proxy_credentials=_given_proxy_credentials(invocation, proxy_credentials)
    )
    _resolve_credentials(invocation, hook)
    return hook


def build_invoker(invocation: Invocation, log: Log) -> LambdaInvokerBase:
    """
    The client for a validated invocation: the hook where a connection is named, else one without Airflow.

    With ``aws_conn_id`` or ``proxy_conn_id`` the hook (:func:`build_hook`) reads the connections;
    without either, :class:`~.hooks.invoker.EnvironmentInvoker` builds the same client from the
    environment's chain with plain botocore, and Airflow is never imported (the command line's
    start-up). Either then goes through :func:`run`.

    :param log: Where the invoker without Airflow reports retries (the hook uses its task log).
    :raises LambdaInvokeError: With the document attached (e.g. proxy credentials missing).
    """
    request = invocation.request
    assert request is not None
    if request.aws_conn_id or request.proxy_conn_id:
        return build_hook(invocation)
    from airflow_provider_lambda_ue.hooks.invoker import EnvironmentInvoker

    invoker = EnvironmentInvoker.from_request(
        request, proxy_credentials=_given_proxy_credentials(invocation, None), log=log
    )
    _resolve_credentials(invocation, invoker)
    return invoker


def _given_proxy_credentials(
    invocation: Invocation, proxy_credentials: tuple[str, str] | None
) -> tuple[str, str] | None:
    if proxy_credentials is None and invocation.proxy_source is not None:
        return invocation.proxy_source.environment
    return proxy_credentials


def _resolve_credentials(invocation: Invocation, invoker: LambdaInvokerBase) -> None:
    """Record which credentials are set (for the document); reads connections, no network call."""
    try:
        invocation.credentials_set = invoker.credentials_from_connection
        invocation.proxy_credentials_set = invoker.proxy_credentials is not None
    except Exception as exc:
        raise invocation.failed(classify(exc, proxy_url=invoker.proxy_url)) from exc


def run(
    invocation: Invocation,
    hook: LambdaInvokerBase,
    log: Log,
    *,
    durable: DurablePolicy | None = None,
) -> dict[str, Any]:
    """
    Invoke synchronously (in this thread) and finish.

    A durable request (``durable_execution_name``) starts or finds its execution and polls it
    until it ends or ``wait_for_completion_timeout`` runs out (:func:`start_durable`,
    :func:`wait_durable`, :func:`finish_durable`).

    :return: The output document of a success.
    :raises LambdaInvokeError: With the document attached.
    """
    request = invocation.request
    assert request is not None
    if request.durable:
        policy = durable or DurablePolicy()
        started = start_durable(invocation, hook, log, policy)
        execution = wait_durable(invocation, hook, started, log, policy)
        return finish_durable(invocation, started.result, execution, log)
    log.info(
        "Invoking %s (%s%s)%s",
        request.function_name,
        request.invocation_type,
        f", qualifier {request.qualifier}" if request.qualifier else "",
        f" through proxy {hook.proxy_url}" if hook.proxy_url else "",
    )
    invocation.started_ms = int(time.time() * 1000)
    try:
        result = hook.invoke(request)
    except LambdaInvokeError as err:
        request_id = error_request_id(err)
        log_request_id(log, request_id)
        raise invocation.failed(err, request_id=request_id) from err.__cause__
    return finish(invocation, result, log, hook=hook)


def error_request_id(error: BaseException) -> str | None:
    """
    The request id of the service's answer to Invoke behind a failure (a service error), else None.

    Only Invoke's: a failure of STS (the role) carries STS's request id, which is not the invocation's.
    """
    cause = error.__cause__ if isinstance(error, LambdaInvokeError) else error
    response = getattr(cause, "response", None)
    if getattr(cause, "operation_name", None) != "Invoke" or not isinstance(response, dict):
        return None
    return response_request_id(response)


def log_request_id(log: Log, request_id: str | None) -> None:
    """Name the request id of a failed Invoke in the log: what a support case needs."""
    if request_id:
        log.info("Lambda request id: %s", request_id)


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
    :raises LambdaFunctionError: For a function error when ``fail_on_function_error`` is on.
    :raises LambdaFullLogError: When the complete log could not be read and ``full_log_required``.
    """
    request = invocation.request
    assert request is not None
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
        raise invocation.failed(LambdaFailError(f"unexpected status code {result.status_code}"), result)
    missing = stream_full_log(invocation, result, log, hook) if hook is not None else None
    if result.function_error:
        description = describe_function_error(result)
        if request.fail_on_function_error:
            raise invocation.failed(LambdaFunctionError(description), result)
        log.warning("The function reported an error (fail_on_function_error is off): %s", description)
    if missing is not None:
        raise invocation.failed(LambdaFullLogError(missing), result)
    return invocation.document(0, status, result)


def stream_full_log(
    invocation: Invocation, result: InvokeResult, log: Log, hook: LambdaInvokerBase
) -> str | None:
    """
    With ``fetch_full_log``: stream the invocation's complete log from CloudWatch Logs into ``log``.

    Each line goes through the secrets masker first (the command line's stderr is not masked by
    Airflow). A log that cannot be read, or not to its end, is a warning.

    :return: Why the complete log is missing, when ``full_log_required`` makes that a failure; else None.
    """
    request = invocation.request
    assert request is not None
    if not request.fetch_full_log or request.invocation_type == INVOCATION_DRY_RUN:
        return None
    if not result.request_id:
        return _full_log_missing(log, request, "Lambda's answer has no request id to find the log by")
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
    found: FullLog = read_full_log(hook, request, result.request_id, emit=emit, since_ms=since_ms)
    where = f"{found.log_group}" + (f", stream {found.log_stream}" if found.log_stream else "")
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
    return _full_log_missing(log, request, f"{problem} ({where})")


def _full_log_missing(log: Log, request: InvokeRequest, problem: str) -> str | None:
    """Warn that the complete log is missing; return the failure's detail if it is required."""
    from airflow_provider_lambda_ue.masking import redact

    problem = redact(problem)  # an error's text may quote a URL with credentials
    if request.full_log_required:
        return f"the function ran, but its complete log could not be read: {problem}"
    log.warning("The complete log could not be read (full_log_required is off): %s", problem)
    return None


def complete(
    invocation: Invocation,
    event: dict[str, Any],
    log: Log,
    *,
    hook: LambdaInvokerBase | None = None,
) -> dict[str, Any]:
    """
    Finish an invocation that the trigger performed, from the trigger's event.

    :param event: ``{"status": "success", "result": {...}}``, ``{"status": "durable", "result":
        {...}, "execution": {...}}`` (:class:`~.durable.DurableExecution`: ended, or the wait ran out) or
        ``{"status": "error", "exit_code": ..., "detail": ..., "proxy_url": ..., "request_id": ...}``.
    :param hook: Reads the complete log (``fetch_full_log``).
    """
    if event.get("status") == "success":
        if isinstance(event.get("started_ms"), int):
            invocation.started_ms = event["started_ms"]
        return finish(invocation, InvokeResult.from_dict(event["result"]), log, hook=hook)
    if event.get("status") == DURABLE_EVENT:
        result = InvokeResult.from_dict(event["result"])
        return finish_durable(invocation, result, DurableExecution.from_dict(event["execution"]), log)
    error_class = exception_for_exit_code(int(event.get("exit_code", 1)))
    detail = str(event.get("detail", ""))
    error: LambdaInvokeError
    if issubclass(error_class, LambdaProxyConnectionError):
        error = error_class(detail, proxy_url=event.get("proxy_url"))
    else:
        error = error_class(detail)
    request_id = event.get("request_id")
    log_request_id(log, request_id)
    raise invocation.failed(error, request_id=request_id)


def error_event(error: LambdaInvokeError) -> dict[str, Any]:
    """The trigger's event for a failure (plain data; the worker rebuilds the exception)."""
    return {
        "status": "error",
        "exit_code": error.exit_code,
        "detail": error.detail,
        "proxy_url": getattr(error, "proxy_url", None),
        "request_id": error_request_id(error),
    }


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
    if len(text) > _MAX_ERROR_TEXT:
        text = text[: _MAX_ERROR_TEXT - 3] + "..."
    return f"Function error ({kind})" + (f": {text}" if text else "")


# -- durable executions -----------------------------------------------------------------------

DURABLE_EVENT = "durable"
"""Event status of a durable wait that ended (the execution ended, or the wait ran out)."""


def start_durable(
    invocation: Invocation, hook: LambdaInvokerBase, log: Log, policy: DurablePolicy
) -> DurableStart:
    """
    Start the request's durable execution, or find the one an earlier try started.

    Without generations: ``Invoke`` with the name (idempotent: the same name and payload return the
    existing execution). With generations: the walk of :mod:`.durable`: a RUNNING or SUCCEEDED
    execution is reattached without any Invoke, a failed one leads to the next name, and the first
    name without an execution is started.

    :raises LambdaInvokeError: With the document attached (a name used with another payload: exit 20).
    """
    request = invocation.request
    assert request is not None and request.durable_execution_name is not None
    base = request.durable_execution_name
    deadline = policy.clock() + request.wait_for_completion_timeout
    generation = 1
    known = policy.known or {}
    if policy.generations and known.get("name") == base:
        generation = max(1, int(known.get("generation") or 1))
    try:
        while policy.generations:
            name = generation_name(base, generation)
            found = hook.find_durable_execution(request, name)
            if found is None:
                break
            if found.status in FAILED_STATUSES:
                log.info(
                    "Durable execution %s ended %s in an earlier try: this try starts a new one",
                    name,
                    found.status,
                )
                generation += 1
                continue
            log.info(
                "Found durable execution %s (%s) of an earlier try: not invoking again",
                found.arn,
                found.status,
            )
            result = with_execution(InvokeResult(status_code=202, durable_execution_name=name), found)
            _record(policy, base, generation, found.arn)
            return DurableStart(result, found, generation, deadline)
        name = generation_name(base, generation)
        log.info(
            "Starting durable execution %s of %s (%s)", name, request.function_name, request.invocation_type
        )
        answer = hook.invoke(request, durable_execution_name=name)
        if not answer.durable_execution_arn:
            raise LambdaFailError(
                f"{request.function_name} answered without a durable execution ARN: is it a durable function?"
            )
        _record(policy, base, generation, answer.durable_execution_arn)
        execution = hook.get_durable_execution(answer.durable_execution_arn)
    except LambdaInvokeError as err:
        request_id = error_request_id(err)
        log_request_id(log, request_id)
        raise invocation.failed(err, request_id=request_id) from err.__cause__
    log.info("Durable execution %s: %s", execution.arn, execution.status)
    answer = replace(answer, durable_execution_arn=execution.arn, durable_execution_name=name)
    return DurableStart(with_execution(answer, execution), execution, generation, deadline)


def _record(policy: DurablePolicy, base: str, generation: int, arn: str) -> None:
    if policy.record is not None:
        policy.record({"name": base, "generation": generation, "arn": arn})


def wait_durable(
    invocation: Invocation,
    hook: LambdaInvokerBase,
    started: DurableStart,
    log: Log,
    policy: DurablePolicy,
    *,
    until: float | None = None,
) -> DurableExecution:
    """
    Poll ``GetDurableExecution`` until the execution ends or ``until`` (default: the deadline) passes.

    :return: The execution as last seen (RUNNING when the time ran out).
    :raises LambdaInvokeError: A poll failed, with the document attached.
    """
    until = started.deadline if until is None else min(until, started.deadline)
    execution = started.execution
    delay: float | None = None
    while not execution.terminal:
        left = until - policy.clock()
        if left <= 0:
            break
        delay = next_poll_delay(delay, policy.poll_interval)
        policy.sleep(min(delay, left))
        try:
            execution = hook.get_durable_execution(execution.arn)
        except LambdaInvokeError as err:
            raise invocation.failed(err, with_execution(started.result, execution)) from err.__cause__
    return execution


def finish_durable(
    invocation: Invocation, result: InvokeResult, execution: DurableExecution, log: Log
) -> dict[str, Any]:
    """
    The outcome of a durable execution: its result in the seed's ``payload`` place, or its failure.

    SUCCEEDED: exit 0. FAILED: a function error (exit 1, or success with ``function_error`` set
    when ``fail_on_function_error`` is off). TIMED_OUT, STOPPED: exit 1. Still RUNNING (the wait ran
    out): exit 21; the execution is left running, and a retry or a cleared task finds it again.

    :raises LambdaInvokeError: For every outcome but a success, with the document attached.
    """
    request = invocation.request
    assert request is not None
    result = with_execution(result, execution)
    log.info("Durable execution %s: %s", execution.arn, execution.status)
    if execution.status in (STATUS_SUCCEEDED, STATUS_FAILED):
        return finish(invocation, result, log)
    if execution.status == STATUS_RUNNING:
        raise invocation.failed(
            LambdaReadTimeoutError(
                f"durable execution {execution.arn} is still RUNNING after "
                f"{request.wait_for_completion_timeout} s; it is left running (a cleared task finds it again)"
            ),
            result,
        )
    error = execution.error or {}
    message = error.get("ErrorMessage") or ""
    raise invocation.failed(
        LambdaFailError(
            f"durable execution {execution.name or execution.arn} ended {execution.status}"
            + (f": {message}" if message else "")
        ),
        result,
    )
