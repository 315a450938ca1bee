"""An ``Invoke`` as moto's Lambda backend receives it, read the way Lambda reads it (moto internals).

From moto's function object and the request's headers and body: the qualifier, the ARN the caller
used, whether this endpoint can run the function, its log group and format, the event, the client
context and the execution role's credentials, gathered into the :class:`InvocationRequest` the
executor runs. Server process
only; moto is imported inside the functions, so importing this module does not import it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from typing import Any

from airflow_provider_lambda_ue.testing.local_lambda.cloudwatch import (
    LOG_FORMAT_JSON,
    LOG_FORMAT_TEXT,
    default_log_group,
    stream_name,
)
from airflow_provider_lambda_ue.testing.local_lambda.common import DEFAULT_RUNTIME, LambdaApiError
from airflow_provider_lambda_ue.testing.local_lambda.invocation import InvocationRequest

log = logging.getLogger(__name__)


def header(headers: Any, name: str) -> str | None:
    """Case-insensitive header lookup in whatever mapping moto passes."""
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is not None:
        return str(value)
    lowered = name.lower()
    for key, val in getattr(headers, "items", lambda: [])():
        if str(key).lower() == lowered:
            return str(val)
    return None


def logging_config(fn: Any) -> tuple[str, str]:
    """The function's log group and log format (``Text`` or ``JSON``), as its ``LoggingConfig`` says."""
    config = getattr(fn, "logging_config", None) or {}
    group = str(config.get("LogGroup") or default_log_group(str(fn.function_name)))
    log_format = LOG_FORMAT_JSON if str(config.get("LogFormat") or "") == LOG_FORMAT_JSON else LOG_FORMAT_TEXT
    return group, log_format


def request_qualifier() -> str | None:
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


def invoked_arn(backend: Any, fn: Any, function_name: str, qualifier: str | None) -> str:
    """The ARN with the qualifier the caller used, for ``context.invoked_function_arn``."""
    from moto.awslambda.utils import make_function_arn

    used_qualifier = qualifier
    tail = function_name.rsplit(":function:", maxsplit=1)[-1]
    if ":" in tail:
        used_qualifier = tail.split(":", 1)[1]
    arn = make_function_arn(backend.region_name, backend.account_id, fn.function_name)
    return f"{arn}:{used_qualifier}" if used_qualifier else str(arn)


def check_runnable(fn: Any) -> None:
    """Refuse, as Lambda's API would, a function this endpoint cannot run (not a zip, not Python)."""
    if fn.package_type != "Zip" or not getattr(fn, "code_bytes", b""):
        raise LambdaApiError(
            "InvalidParameterValueException",
            "The local Lambda endpoint can only run functions deployed as a zip (Code.ZipFile or S3)",
        )
    if fn.run_time and not str(fn.run_time).startswith("python"):
        raise LambdaApiError(
            "InvalidRuntimeException",
            f"The local Lambda endpoint only runs Python handlers, not {fn.run_time}",
        )


def read_event(body: Any) -> str:
    """The event (JSON text) from the request body; an empty body is ``{}``, bad JSON is a 400."""
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    event = body if body else "{}"
    try:
        json.loads(event)
    except ValueError as exc:
        raise LambdaApiError(
            "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
        ) from None
    return str(event)


def read_client_context(headers: Any) -> dict[str, Any] | None:
    """``X-Amz-Client-Context`` decoded (base64 JSON), None without the header."""
    raw_client_context = header(headers, "X-Amz-Client-Context")
    if not raw_client_context:
        return None
    try:
        decoded = json.loads(base64.b64decode(raw_client_context, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise LambdaApiError(
            "InvalidRequestContentException", "Client context must be a valid Base64-encoded JSON object"
        ) from exc
    return decoded if isinstance(decoded, dict) else {"custom": decoded}


def role_credentials(backend: Any, fn: Any) -> dict[str, str]:
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


def invocation_request(
    backend: Any,
    fn: Any,
    invoked_function_arn: str,
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
        invoked_function_arn=invoked_function_arn,
        timeout=float(fn.timeout or 3),
        memory_size=int(fn.memory_size or 128),
        runtime=str(fn.run_time or DEFAULT_RUNTIME),
        region=backend.region_name,
        environment=dict(fn.environment_vars or {}),
        client_context=client_context,
        tenant_id=tenant_id,
        credentials=role_credentials(backend, fn),
        log_group_name=logging_config(fn)[0],
        log_stream_name=log_stream_name or stream_name(version),
    )
