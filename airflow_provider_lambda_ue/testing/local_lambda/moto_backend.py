"""moto's Lambda backend with an ``Invoke`` that runs the handler (server process only)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from typing import Any, ClassVar

from airflow_provider_lambda_ue.testing.local_lambda.cloudwatch import (
    ENVIRONMENTS,
    Environment,
    invocation_log,
    keep_logging_config,
    log_bytes,
    logging_config,
    now_ms,
    save,
    stream_name,
)
from airflow_provider_lambda_ue.testing.local_lambda.common import (
    DEFAULT_RUNTIME,
    LOG_TAIL_BYTES,
)
from airflow_provider_lambda_ue.testing.local_lambda.durable import (
    DurableRunner,
    invoke_durable,
    is_handler_invocation,
)
from airflow_provider_lambda_ue.testing.local_lambda.executor import HandlerExecutor
from airflow_provider_lambda_ue.testing.local_lambda.invocation import InvocationRequest, InvocationResult

log = logging.getLogger(__name__)

#: The response header of a request id, spelt as moto's ``gen_amzn_requestid_long`` writes it.
_REQUEST_ID_HEADER = "x-amzn-requestid"


# --------------------------------------------------------------------------------------------------
# The moto hook (server process only).
# --------------------------------------------------------------------------------------------------


class _Hook:
    """State of the moto hook in the server process (the executor and the backend class)."""

    executor: ClassVar[HandlerExecutor | None] = None
    durable_runner: ClassVar[DurableRunner | None] = None
    backend_class: ClassVar[type | None] = None


def _header(headers: Any, name: str) -> str | None:
    """Case-insensitive header lookup in whatever mapping moto passes."""
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is not None:
        return str(value)
    lowered = name.lower()
    for key, val in getattr(headers, "items", lambda: [])():
        if str(key).lower() == lowered:
            return str(val)
    return None


def _request_qualifier() -> str | None:
    """
    Return the ``Qualifier`` query parameter of the current request.

    moto's ``LambdaResponse.invoke`` looks the qualifier up as ``qualifier`` (lower case) and so never
    finds the ``?Qualifier=`` boto3 sends; the Flask request of moto's server still has it.
    """
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover - moto[server] depends on flask
        return None
    if not has_request_context():
        return None
    for key, value in request.args.items():
        if key.lower() == "qualifier" and value:
            return str(value)
    return None


def _role_credentials(backend: Any, fn: Any) -> dict[str, str]:
    """Temporary credentials of the function's execution role from moto's STS (dummy ones on failure)."""
    try:
        from moto.sts.models import sts_backends
        from moto.utilities.utils import get_partition

        role = sts_backends[backend.account_id][get_partition(backend.region_name)].assume_role(
            region_name=backend.region_name,
            role_session_name=str(fn.function_name)[:64],
            role_arn=fn.role,
            policy="",
            duration=3600,
            external_id="",
        )
        return {
            "AWS_ACCESS_KEY_ID": role.access_key_id,
            "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
            "AWS_SESSION_TOKEN": role.session_token,
        }
    except Exception:
        log.debug("could not assume the execution role of %s", fn.function_name, exc_info=True)
        return {}


def _finish_log(
    fn: Any, request: InvocationRequest, environment: Environment, result: InvocationResult
) -> bytes:
    """
    Write the invocation's log to CloudWatch Logs the way Lambda does, free its environment.

    :return: The log's text (what ``LogType=Tail`` cuts the tail from).
    """
    group, log_format = logging_config(fn)
    cold = environment.invocations == 0
    events = invocation_log(request, result, log_format=log_format, cold=cold, ended_ms=now_ms())
    save(fn, group, request.log_stream_name, events)
    return log_bytes(events, cold=cold)


def _release(backend: Any, request: InvocationRequest, environment: Environment) -> None:
    ENVIRONMENTS.release(backend.account_id, request.function_name, request.version, environment)


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
    :param qualifier: The qualifier moto found (always None, see :func:`_request_qualifier`).
    :param body: The request body (the event).
    :param headers: The request headers.
    :param response_headers: Headers of the response, filled in here.
    :return: The response body.
    """
    from moto.awslambda.exceptions import LambdaClientError

    executor = _Hook.executor
    if executor is None:  # pragma: no cover - install_executor sets it before the backend is used
        raise LambdaClientError("ServiceException", "the local Lambda executor is not installed")
    qualifier = qualifier or _request_qualifier()
    fn = backend.get_function(function_name, qualifier)
    invoked_arn = _invoked_arn(backend, fn, function_name, qualifier)

    invocation_type = _header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
    if invocation_type == "DryRun":
        response_headers["Content-Length"] = "0"
        return b""

    _check_runnable(fn)
    durable_config = getattr(fn, "durable_config", None)
    if durable_config is not None and not is_handler_invocation(lambda name: _header(headers, name)):
        # A caller's Invoke of a durable function starts (or finds) an execution; the runner's own
        # invocations of the handler (marked) run below like any other.
        runner = _Hook.durable_runner
        if runner is None:  # pragma: no cover - install_executor sets it
            raise LambdaClientError("ServiceException", "the local durable runner is not installed")
        return invoke_durable(
            runner,
            function_name=fn.function_name,
            qualifier=None if str(fn.version) == "$LATEST" else str(fn.version),
            account_id=backend.account_id,
            durable_config=durable_config,
            invocation_type=invocation_type,
            execution_name=_header(headers, "X-Amz-Durable-Execution-Name"),
            event=_event(body),
            response_headers=response_headers,
        )
    environment = ENVIRONMENTS.acquire(backend.account_id, fn.function_name, str(fn.version))
    request = _invocation_request(
        backend,
        fn,
        invoked_arn,
        event=_event(body),
        client_context=_client_context(headers),
        tenant_id=_header(headers, "X-Amz-Tenant-Id"),
        log_stream_name=environment.stream,
    )
    # Lambda answers Invoke with the invocation's own request id (the handler's aws_request_id).
    response_headers[_REQUEST_ID_HEADER] = request.request_id
    if invocation_type == "Event":

        def on_done(result: InvocationResult) -> None:
            try:
                _finish_log(fn, request, environment, result)
            finally:
                _release(backend, request, environment)

        executor.submit(request, on_done=on_done)
        response_headers["Content-Length"] = "0"
        return b""

    try:
        result = executor.run(request)
        log_text = _finish_log(fn, request, environment, result)
    finally:
        _release(backend, request, environment)
    response_headers["X-Amz-Executed-Version"] = request.version
    if result.function_error:
        response_headers["X-Amz-Function-Error"] = result.function_error
    if (_header(headers, "X-Amz-Log-Type") or "None") == "Tail":
        # The last 4 KB, cut by bytes like Lambda (it may start inside a multi-byte character).
        response_headers["X-Amz-Log-Result"] = base64.b64encode(log_text[-LOG_TAIL_BYTES:]).decode("ascii")
    response_headers["Content-Length"] = str(len(result.payload))
    return result.payload


def _invoked_arn(backend: Any, fn: Any, function_name: str, qualifier: str | None) -> str:
    """The ARN with the qualifier the caller used, for ``context.invoked_function_arn``."""
    from moto.awslambda.utils import make_function_arn

    used_qualifier = qualifier
    tail = function_name.rsplit(":function:", maxsplit=1)[-1]
    if ":" in tail:
        used_qualifier = tail.split(":", 1)[1]
    invoked_arn = make_function_arn(backend.region_name, backend.account_id, fn.function_name)
    return f"{invoked_arn}:{used_qualifier}" if used_qualifier else str(invoked_arn)


def _check_runnable(fn: Any) -> None:
    """Refuse, as Lambda's API would, a function this endpoint cannot run (not a zip, not Python)."""
    from moto.awslambda.exceptions import LambdaClientError

    if fn.package_type != "Zip" or not getattr(fn, "code_bytes", b""):
        raise LambdaClientError(
            "InvalidParameterValueException",
            "The local Lambda endpoint can only run functions deployed as a zip (Code.ZipFile or S3)",
        )
    if fn.run_time and not str(fn.run_time).startswith("python"):
        raise LambdaClientError(
            "InvalidRuntimeException",
            f"The local Lambda endpoint only runs Python handlers, not {fn.run_time}",
        )


def _event(body: Any) -> str:
    """The event (JSON text) from the request body; an empty body is ``{}``, bad JSON is a 400."""
    from moto.awslambda.exceptions import LambdaClientError

    if isinstance(body, bytes):
        body = body.decode("utf-8")
    event = body if body else "{}"
    try:
        json.loads(event)
    except ValueError as exc:
        error = LambdaClientError(
            "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
        )
        error.code = 400
        raise error from None
    return str(event)


def _client_context(headers: Any) -> dict[str, Any] | None:
    """``X-Amz-Client-Context`` decoded (base64 JSON), None without the header."""
    from moto.awslambda.exceptions import LambdaClientError

    raw_client_context = _header(headers, "X-Amz-Client-Context")
    if not raw_client_context:
        return None
    try:
        decoded = json.loads(base64.b64decode(raw_client_context, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise LambdaClientError(
            "InvalidRequestContentException", "Client context must be a valid Base64-encoded JSON object"
        ) from exc
    return decoded if isinstance(decoded, dict) else {"custom": decoded}


def _invocation_request(
    backend: Any,
    fn: Any,
    invoked_arn: str,
    *,
    event: str,
    client_context: dict[str, Any] | None,
    tenant_id: str | None = None,
    log_stream_name: str | None = None,
) -> InvocationRequest:
    """What the executor needs to run ``fn`` once, with a new request id, in the given log stream."""
    from moto.moto_api._internal import mock_random

    version = str(fn.version)
    code = bytes(fn.code_bytes)
    return InvocationRequest(
        request_id=str(mock_random.uuid4()),
        function_name=fn.function_name,
        version=version,
        handler=str(fn.handler or ""),
        code=code,
        code_sha256=str(getattr(fn, "code_digest", "") or hashlib.sha256(code).hexdigest()),
        event=event,
        invoked_function_arn=invoked_arn,
        timeout=float(fn.timeout or 3),
        memory_size=int(fn.memory_size or 128),
        runtime=str(fn.run_time or DEFAULT_RUNTIME),
        region=backend.region_name,
        environment=dict(fn.environment_vars or {}),
        client_context=client_context,
        tenant_id=tenant_id,
        credentials=_role_credentials(backend, fn),
        log_group_name=logging_config(fn)[0],
        log_stream_name=log_stream_name or stream_name(version),
    )


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
                return _invoke(
                    self,
                    function_name,
                    qualifier=qualifier,
                    body=body,
                    headers=headers,
                    response_headers=response_headers,
                )

        _Hook.backend_class = ExecutingLambdaBackend
    return _Hook.backend_class


def _keep_durable_config() -> None:
    """
    Make moto's functions keep ``DurableConfig`` (moto ignores it) and report it in their configuration.

    The attribute ``durable_config`` (None for a plain function) is what marks a function durable
    for :func:`_invoke`; published versions are copies, so they keep it. Idempotent.
    """
    from moto.awslambda.models import LambdaFunction

    if getattr(LambdaFunction, "_local_lambda_durable", False):
        return
    original_init = LambdaFunction.__init__
    original_configuration = LambdaFunction.get_configuration

    def __init__(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        config = spec.get("DurableConfig")
        self.durable_config = dict(config) if isinstance(config, dict) else None

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config: dict[str, Any] = original_configuration(self, *args, **kwargs)
        if getattr(self, "durable_config", None) is not None:
            config["DurableConfig"] = dict(self.durable_config)
        return config

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    LambdaFunction._local_lambda_durable = True  # type: ignore[attr-defined]


def _keep_invocation_request_id() -> None:
    """
    Make moto keep the request id that :func:`_invoke` set instead of drawing a random one.

    moto gives every response a new ``x-amzn-RequestId``; Lambda's Invoke answers with the
    invocation's request id, the one the handler sees as ``context.aws_request_id`` and the log's
    ``START RequestId:`` line shows. Responses without one still get moto's. Idempotent.
    """
    from moto.core.responses import BaseResponse

    if getattr(BaseResponse, "_local_lambda_request_id", False):
        return
    original = BaseResponse._enrich_response

    def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        given = headers.get(_REQUEST_ID_HEADER)
        headers, body = original(headers, body)
        if given:
            headers[_REQUEST_ID_HEADER] = given
        return headers, body

    BaseResponse._enrich_response = staticmethod(_enrich_response)  # type: ignore[method-assign]
    BaseResponse._local_lambda_request_id = True  # type: ignore[attr-defined]


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
    _keep_durable_config()
    keep_logging_config()
    _keep_invocation_request_id()
    default_user_config.setdefault("lambda", {})["use_docker"] = False
    lambda_simple_backends.backend = _executing_backend_class()
    lambda_simple_backends.clear()


_IAM_ACTION_NAMES = {
    # moto authorises the API operation name; IAM knows these operations under another action name.
    "lambda:Invoke": "lambda:InvokeFunction",
    "lambda:InvokeWithResponseStream": "lambda:InvokeFunction",
}


def fix_moto_iam_checks() -> None:
    """
    Correct two flaws of moto's IAM enforcement, in this process (the server's).

    * Signature check of body-less requests: when a request has neither a body nor a query string,
      moto fills its parsed parameters with the request *headers* and, having no body, signs those as
      if they were the payload, so every body-less REST request (``Invoke`` without a payload,
      ``ListFunctions``, ``GetFunction``...) fails with ``SignatureDoesNotMatch``. Requests that are
      not form-encoded are now checked against their real (empty) body; form-encoded ones (IAM, STS)
      are unchanged.
    * Action names: moto authorises ``lambda:Invoke`` (the operation name) where IAM policies say
      ``lambda:InvokeFunction``; the IAM name is used instead.

    Both only matter while IAM enforcement is on. Idempotent.
    """
    from moto.iam.access_control import IAMRequestBase

    if getattr(IAMRequestBase, "_local_lambda_fixed", False):
        return
    original_init = IAMRequestBase.__init__
    original_create = IAMRequestBase._create_aws_request

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._action = _IAM_ACTION_NAMES.get(self._action, self._action)

    def _create_aws_request(self: Any) -> Any:
        request = original_create(self)
        content_type = str(_header(self._headers, "Content-Type") or "").lower()
        if not self._body and "x-www-form-urlencoded" not in content_type:
            request.data = b""
        return request

    IAMRequestBase.__init__ = __init__  # type: ignore[method-assign]
    IAMRequestBase._create_aws_request = _create_aws_request  # type: ignore[method-assign]
    IAMRequestBase._local_lambda_fixed = True  # type: ignore[attr-defined]
