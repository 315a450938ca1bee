"""moto's Lambda backend with an ``Invoke`` that runs the handler (server process; moto internals).

:func:`install_executor` makes moto build :func:`ExecutingLambdaBackend <_executing_backend_class>`
backends, whose ``invoke`` answers a dry run, hands a caller's ``Invoke`` of a durable function to
the durable runner (:mod:`.durable`), and otherwise runs the handler with the executor, now
(``RequestResponse``) or in the background (``Event``), its log written as Lambda writes it
(:mod:`.moto_logs`). The request is read by :mod:`.moto_request`; the endpoint's own errors
(:class:`LambdaApiError`) become moto's error answers here.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from airflow_provider_lambda_ue.testing.local_lambda.cloudwatch import ENVIRONMENTS, Environment
from airflow_provider_lambda_ue.testing.local_lambda.common import LOG_TAIL_BYTES, LambdaApiError
from airflow_provider_lambda_ue.testing.local_lambda.durable import (
    DurableRunner,
    invoke_durable,
    is_handler_invocation,
)
from airflow_provider_lambda_ue.testing.local_lambda.executor import HandlerExecutor
from airflow_provider_lambda_ue.testing.local_lambda.invocation import InvocationRequest, InvocationResult
from airflow_provider_lambda_ue.testing.local_lambda.moto_logs import write_log
from airflow_provider_lambda_ue.testing.local_lambda.moto_patches import (
    REQUEST_ID_HEADER,
    keep_durable_config,
    keep_invocation_request_id,
    keep_logging_config,
)
from airflow_provider_lambda_ue.testing.local_lambda.moto_request import (
    check_runnable,
    header,
    invocation_request,
    invoked_arn,
    read_client_context,
    read_event,
    request_qualifier,
)


class _Hook:
    """State of the moto hook in the server process (the executor and the backend class)."""

    executor: ClassVar[HandlerExecutor | None] = None
    durable_runner: ClassVar[DurableRunner | None] = None
    backend_class: ClassVar[type | None] = None


def _invoke(
    backend: Any,
    function_name: str,
    *,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: dict[str, str],
) -> bytes:
    """
    Replacement of ``LambdaBackend.invoke``: resolve the function like moto, then really run it.

    :param backend: The (account, region) Lambda backend.
    :param function_name: ``FunctionName`` from the path: name, ``name:qualifier`` or an ARN.
    :param qualifier: The qualifier moto found (always None, see :func:`.request_qualifier`).
    :param body: The request body (the event).
    :param headers: The request headers.
    :param response_headers: Headers of the response, filled in here.
    :return: The response body.
    """
    executor = _Hook.executor
    if executor is None:  # pragma: no cover - install_executor sets it before the backend is used
        raise LambdaApiError("ServiceException", "the local Lambda executor is not installed")
    qualifier = qualifier or request_qualifier()
    fn = backend.get_function(function_name, qualifier)
    invocation_type = header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
    if invocation_type == "DryRun":
        response_headers["Content-Length"] = "0"
        return b""
    check_runnable(fn)
    event = read_event(body)
    if getattr(fn, "durable_config", None) is not None and not is_handler_invocation(
        lambda name: header(headers, name)
    ):
        # A caller's Invoke of a durable function starts (or finds) an execution; the runner's own
        # invocations of the handler (marked) run below like any other.
        return _start_durable(
            backend,
            fn,
            invocation_type=invocation_type,
            event=event,
            headers=headers,
            response_headers=response_headers,
        )
    return _run_handler(
        executor,
        backend,
        fn,
        invoked_arn(backend, fn, function_name, qualifier),
        invocation_type=invocation_type,
        event=event,
        headers=headers,
        response_headers=response_headers,
    )


def _run_handler(
    executor: HandlerExecutor,
    backend: Any,
    fn: Any,
    invoked_function_arn: str,
    *,
    invocation_type: str,
    event: str,
    headers: Any,
    response_headers: dict[str, str],
) -> bytes:
    """Run the handler in an execution environment: now (``RequestResponse``) or later (``Event``)."""
    client_context = read_client_context(headers)
    environment = ENVIRONMENTS.acquire(backend.account_id, fn.function_name, str(fn.version))
    request = invocation_request(
        backend,
        fn,
        invoked_function_arn,
        event=event,
        client_context=client_context,
        tenant_id=header(headers, "X-Amz-Tenant-Id"),
        log_stream_name=environment.stream,
    )
    # Lambda answers Invoke with the invocation's own request id (the handler's aws_request_id).
    response_headers[REQUEST_ID_HEADER] = request.request_id
    if invocation_type == "Event":
        _run_later(executor, backend, fn, request, environment)
        response_headers["Content-Length"] = "0"
        return b""
    tail = (header(headers, "X-Amz-Log-Type") or "None") == "Tail"
    return _run_now(executor, backend, fn, request, environment, tail=tail, response_headers=response_headers)


def _start_durable(
    backend: Any, fn: Any, *, invocation_type: str, event: str, headers: Any, response_headers: dict[str, str]
) -> bytes:
    """A caller's ``Invoke`` of a durable function, answered by the durable runner (:mod:`.durable`)."""
    runner = _Hook.durable_runner
    if runner is None:  # pragma: no cover - install_executor sets it
        raise LambdaApiError("ServiceException", "the local durable runner is not installed")
    return invoke_durable(
        runner,
        function_name=fn.function_name,
        qualifier=None if str(fn.version) == "$LATEST" else str(fn.version),
        account_id=backend.account_id,
        durable_config=fn.durable_config,
        invocation_type=invocation_type,
        execution_name=header(headers, "X-Amz-Durable-Execution-Name"),
        event=event,
        response_headers=response_headers,
    )


def _release(backend: Any, request: InvocationRequest, environment: Environment) -> None:
    ENVIRONMENTS.release(backend.account_id, request.function_name, request.version, environment)


def _run_later(
    executor: HandlerExecutor, backend: Any, fn: Any, request: InvocationRequest, environment: Environment
) -> None:
    """Run an ``Event`` invocation in the background; its log is written when it ends."""

    def on_done(result: InvocationResult) -> None:
        try:
            write_log(fn, request, environment, result)
        finally:
            _release(backend, request, environment)

    executor.submit(request, on_done=on_done)


def _run_now(
    executor: HandlerExecutor,
    backend: Any,
    fn: Any,
    request: InvocationRequest,
    environment: Environment,
    *,
    tail: bool,
    response_headers: dict[str, str],
) -> bytes:
    """Run a ``RequestResponse`` invocation, write its log and answer its payload (and log tail)."""
    try:
        result = executor.run(request)
        log_text = write_log(fn, request, environment, result)
    finally:
        _release(backend, request, environment)
    response_headers["X-Amz-Executed-Version"] = request.version
    if result.function_error:
        response_headers["X-Amz-Function-Error"] = result.function_error
    if tail:
        # The last 4 KB, cut by bytes like Lambda (it may start inside a multi-byte character).
        response_headers["X-Amz-Log-Result"] = base64.b64encode(log_text[-LOG_TAIL_BYTES:]).decode("ascii")
    response_headers["Content-Length"] = str(len(result.payload))
    return result.payload


def _client_error(error: LambdaApiError) -> Exception:
    """The endpoint's error as moto's, which moto's server answers with its code and status."""
    from moto.awslambda.exceptions import LambdaClientError

    client_error = LambdaClientError(error.code, error.message)
    client_error.code = error.status
    return client_error


def _executing_backend_class() -> type:
    """
    Build (once) the subclass of moto's docker-less ``LambdaSimpleBackend`` whose ``invoke`` runs code.

    Built lazily so that importing this module does not import moto.
    """
    if _Hook.backend_class is None:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        class ExecutingLambdaBackend(LambdaSimpleBackend):
            """moto's docker-less Lambda backend with an ``invoke`` that really runs the handler."""

            def invoke(
                self,
                function_name: str,
                qualifier: str | None,
                body: Any,
                headers: Any,
                response_headers: Any,
            ) -> str | bytes | None:
                try:
                    return _invoke(
                        self,
                        function_name,
                        qualifier=qualifier,
                        body=body,
                        headers=headers,
                        response_headers=response_headers,
                    )
                except LambdaApiError as exc:
                    raise _client_error(exc) from exc

        _Hook.backend_class = ExecutingLambdaBackend
    return _Hook.backend_class


def install_executor(executor: HandlerExecutor, durable_runner: DurableRunner | None = None) -> None:
    """
    Hook ``executor`` into moto, in this process (the server's).

    Selects moto's docker-less Lambda backend (config ``lambda.use_docker = False``) and makes its
    backend dictionary create :func:`ExecutingLambdaBackend <_executing_backend_class>` instances,
    so every Lambda API call is still served by moto and only ``Invoke`` behaves differently.
    Functions keep their ``DurableConfig``; a caller's ``Invoke`` of such a function goes to
    ``durable_runner``.

    :param executor: The executor that runs handlers.
    :param durable_runner: The durable control plane (see :mod:`.durable`); without it durable
        functions cannot be invoked.
    """
    from moto.awslambda_simple.models import lambda_simple_backends
    from moto.core.config import default_user_config

    _Hook.executor = executor
    _Hook.durable_runner = durable_runner
    keep_durable_config()
    keep_logging_config()
    keep_invocation_request_id()
    default_user_config.setdefault("lambda", {})["use_docker"] = False
    lambda_simple_backends.backend = _executing_backend_class()
    lambda_simple_backends.clear()
