"""The one path from fields to result, shared by the operator, the trigger and the command line.

``prepare`` (validate) -> ``build_invoker`` (the client: the hook, or one without Airflow) -> ``run``
(invoke, then :func:`~airflow_provider_lambda_ue.finish.finish`), or ``complete`` for what a trigger
performed. The callers differ only in where the fields come from and where the document goes
(XCom, stdout). Every outcome ends in an output document: returned on success, attached as
``.output`` to the raised :class:`~airflow_provider_lambda_ue.outcomes.InvocationFailure`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_lambda_ue import durable_wait
from airflow_provider_lambda_ue.classifier import classify
from airflow_provider_lambda_ue.fields import INVOCATION_DRY_RUN, INVOCATION_EVENT, LOG_TYPE_TAIL, URL_FIELDS
from airflow_provider_lambda_ue.finish import Log, error_request_id, finish, log_request_id
from airflow_provider_lambda_ue.masking import mask_inline_url_passwords
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.output import Invocation, invalid
from airflow_provider_lambda_ue.proxy_credentials import proxy_credential_source
from airflow_provider_lambda_ue.validation import validate

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.hooks.invoker import LambdaInvokerBase
    from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
    from airflow_provider_lambda_ue.triggers.events import Event

__all__ = ["Invocation", "Log", "build_hook", "build_invoker", "complete", "prepare", "run"]


def prepare(
    raw: Mapping[str, Any], log: Log, *, proxy_environ: Mapping[str, str] | None = None
) -> Invocation:
    """
    Validate the fields (no network, no connection lookup).

    :param raw: The fields as given (:func:`~airflow_provider_lambda_ue.fields.raw_fields`).
    :param proxy_environ: The environment whose ``LAMBDA_UE_PROXY_*`` variables are a source of
        proxy credentials (the command line's ``os.environ``); None: only ``proxy_conn_id`` is.
    :raises InvocationFailure: ``DATA_VALIDATION``, naming every bad field, with the document attached.
    """
    # Before anything can quote them: a password written inline in a URL field (which validation
    # rejects) is masked in every log line, Airflow's or the command line's.
    mask_inline_url_passwords(*(raw.get(name) for name in URL_FIELDS))
    try:
        request = validate(raw, proxy_environ=proxy_environ)
    except InvocationFailure as err:
        raise invalid(raw, err) from None
    if request.log_type == LOG_TYPE_TAIL and request.invocation_type == INVOCATION_EVENT:
        log.info("log_type Tail is not sent with Event invocations: Lambda returns no log for them")
    if raw.get("role_arn") and not request.role_based_access:
        log.info("role_arn is set but role_based_access is off: the role is not assumed")
    if request.fetch_full_log and request.invocation_type == INVOCATION_DRY_RUN:
        log.info("fetch_full_log does nothing for DryRun invocations: nothing runs, nothing is logged")
    return Invocation(raw=raw, request=request)


def build_hook(
    invocation: Invocation, *, proxy_credentials: tuple[str, str] | None = None
) -> LambdaInvokeHook:
    """
    Build the hook for a validated invocation and resolve which credentials are set.

    Reads connections but makes no network call.

    :param proxy_credentials: Proxy ``(user, password)`` given directly (the command line's
        variables), used when ``proxy_conn_id`` is not set.
    :raises InvocationFailure: With the document attached (e.g. proxy credentials missing).
    """
    from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook

    hook = LambdaInvokeHook.from_request(invocation.request, proxy_credentials=proxy_credentials)
    _resolve_credentials(invocation, hook)
    return hook


def build_invoker(
    invocation: Invocation, log: Log, *, proxy_environ: Mapping[str, str] | None = None
) -> LambdaInvokerBase:
    """
    The client for a validated invocation: the hook where a connection is named, else one without Airflow.

    With ``aws_conn_id`` or ``proxy_conn_id`` the hook (:func:`build_hook`) reads the connections;
    without either, :class:`~.hooks.environment.EnvironmentInvoker` builds the same client from the
    environment's chain with plain botocore, and Airflow is never imported (the command line's
    start-up). Either then goes through :func:`run`.

    :param log: Where the invoker without Airflow reports retries (the hook uses its task log).
    :param proxy_environ: As for :func:`prepare`: the proxy credentials its variables give, when
        they are the source (:mod:`.proxy_credentials`).
    :raises InvocationFailure: With the document attached (e.g. proxy credentials missing).
    """
    request = invocation.request
    given = None
    if proxy_environ is not None:
        given = proxy_credential_source(request.proxy_conn_id, environ=proxy_environ).environment
    if request.aws_conn_id or request.proxy_conn_id:
        return build_hook(invocation, proxy_credentials=given)
    from airflow_provider_lambda_ue.hooks.environment import EnvironmentInvoker

    invoker = EnvironmentInvoker.from_request(request, proxy_credentials=given, log=log)
    _resolve_credentials(invocation, invoker)
    return invoker


def _resolve_credentials(invocation: Invocation, invoker: LambdaInvokerBase) -> None:
    """Record which credentials are set (for the document); reads connections, no network call."""
    try:
        invocation.credentials_set = invoker.credentials_from_connection
        invocation.proxy_credentials_set = invoker.proxy_credentials is not None
    except Exception as exc:
        raise invocation.failed(classify(exc, proxy_url=invoker.proxy_url)) from exc


def run(
    invocation: Invocation,
    invoker: LambdaInvokerBase,
    log: Log,
    *,
    policy: durable_wait.DurablePolicy | None = None,
) -> dict[str, Any]:
    """
    Invoke synchronously (in this thread) and finish.

    A durable request (``durable_execution_name``) starts or finds its execution and polls it
    until it ends or ``wait_for_completion_timeout`` runs out (:mod:`.durable`'s walk).

    :param policy: How a durable execution is started and waited for (default: no generations).
    :return: The output document of a success.
    :raises InvocationFailure: With the document attached.
    """
    request = invocation.request
    if request.durable:
        policy = policy or durable_wait.DurablePolicy()
        started = durable_wait.start_durable(invocation, invoker, log, policy)
        execution = durable_wait.wait_durable(invocation, invoker, started, log, policy)
        return durable_wait.finish_durable(invocation, started.result, execution, log)
    log.info(
        "Invoking %s (%s%s)%s",
        request.function_name,
        request.invocation_type,
        f", qualifier {request.qualifier}" if request.qualifier else "",
        f" through proxy {invoker.proxy_url}" if invoker.proxy_url else "",
    )
    invocation.started_ms = int(time.time() * 1000)
    try:
        result = invoker.invoke(request)
    except InvocationFailure as err:
        request_id = error_request_id(err)
        log_request_id(log, request_id)
        raise invocation.failed(err, request_id=request_id) from err.__cause__
    return finish(invocation, result, log, hook=invoker)


def complete(
    invocation: Invocation, event: Event, log: Log, *, invoker: LambdaInvokerBase | None = None
) -> dict[str, Any]:
    """
    Finish an invocation that a trigger performed (or handed back), from its event.

    :param invoker: Invokes a request handed back (``RunOnWorker``), reads the complete log.
    :raises InvocationFailure: With the document attached.
    """
    from airflow_provider_lambda_ue.triggers import events

    if isinstance(event, events.RunOnWorker):
        log.info("Invoking on the worker: %s", "; ".join(event.reasons))
        assert invoker is not None
        return run(invocation, invoker, log)
    if isinstance(event, events.Answered):
        invocation.started_ms = event.started_ms
        return finish(invocation, event.result, log, hook=invoker)
    if isinstance(event, events.DurableEnded):
        return durable_wait.finish_durable(invocation, event.result, event.execution, log)
    log_request_id(log, event.request_id)
    raise invocation.failed(event.failure(), request_id=event.request_id)
