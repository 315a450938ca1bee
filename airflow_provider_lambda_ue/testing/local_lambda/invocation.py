"""One invocation of the local Lambda endpoint: what it needs, what it answers, its log (no moto)."""

from __future__ import annotations

import base64
import datetime
import json
import math
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_lambda_ue.testing.local_lambda.common import (
    DEFAULT_REGION,
    DEFAULT_RUNTIME,
    LOG_TAIL_BYTES,
)


@dataclass
class InvocationRequest:
    """
    Everything the executor needs to run one invocation.

    :param request_id: The invocation's request id (``context.aws_request_id``).
    :param function_name: Name of the function.
    :param version: The executed version: ``$LATEST`` or a published version number.
    :param handler: ``Handler`` of the function (``module.function``).
    :param code: The deployment package (zip bytes).
    :param code_sha256: Hex SHA-256 of ``code``, the key of the unpacked-code cache.
    :param event: The event, JSON text.
    :param invoked_function_arn: ARN the caller used, with the qualifier it gave.
    :param timeout: Function timeout in seconds.
    :param memory_size: Configured memory in MB (reported, not enforced).
    :param runtime: ``Runtime`` of the function (``AWS_EXECUTION_ENV``).
    :param region: Region of the function.
    :param environment: The function's ``Environment.Variables``.
    :param client_context: Decoded ``X-Amz-Client-Context``, or None.
    :param tenant_id: ``X-Amz-Tenant-Id`` (``context.tenant_id``), or None.
    :param credentials: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN`` for the
        handler.
    :param log_group_name: CloudWatch log group of the function.
    :param log_stream_name: Log stream of this invocation.
    """

    request_id: str
    function_name: str
    version: str
    handler: str
    code: bytes
    code_sha256: str
    event: str
    invoked_function_arn: str
    timeout: float = 3.0
    memory_size: int = 128
    runtime: str = DEFAULT_RUNTIME
    region: str = DEFAULT_REGION
    environment: Mapping[str, str] = field(default_factory=dict)
    client_context: dict[str, Any] | None = None
    tenant_id: str | None = None
    credentials: Mapping[str, str] = field(default_factory=dict)
    log_group_name: str = ""
    log_stream_name: str = ""


@dataclass
class InvocationResult:
    """
    Outcome of one invocation.

    :param payload: The response payload (the handler's JSON result, or Lambda's error object).
    :param function_error: ``Unhandled`` when the function failed, None on success.
    :param log: The full log: ``START`` line, handler output, ``END`` and ``REPORT`` lines.
    :param duration_ms: Time the handler ran, in milliseconds.
    :param init_duration_ms: Time of interpreter start and module import, in milliseconds.
    :param timed_out: Whether the function was killed for running past its timeout.
    :param output: The handler's own output (stdout and stderr), as written.
    :param runtime_log: The runtime's lines after it (the error, the timeout message).
    :param max_rss_kb: Peak memory of the handler's process, in KB.
    """

    payload: bytes
    function_error: str | None
    log: bytes
    duration_ms: float
    init_duration_ms: float
    timed_out: bool = False
    output: bytes = b""
    runtime_log: str = ""
    max_rss_kb: int = 0

    @property
    def log_tail(self) -> bytes:
        """The last :data:`LOG_TAIL_BYTES` bytes of the log, cut by bytes like Lambda does."""
        return self.log[-LOG_TAIL_BYTES:]

    @property
    def log_result(self) -> str:
        """``X-Amz-Log-Result``: the log tail, base64-encoded."""
        return base64.b64encode(self.log_tail).decode("ascii")


def utc_timestamp() -> str:
    """Return the current time the way Lambda writes it into messages (``2024-01-31T12:00:00.123Z``)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def outcome(
    request: InvocationRequest, document: dict[str, Any] | None, returncode: int | None, timed_out: bool
) -> tuple[bytes, str | None, str]:
    """
    The answer to an invocation from what the runner left behind.

    :param request: The invocation.
    :param document: The runner's result document, None when it wrote none.
    :param returncode: The runner's exit code.
    :param timed_out: Whether the runner was killed past its timeout.
    :return: The payload, the function error (None on success) and lines for the log.
    """
    if timed_out:
        message = f"{utc_timestamp()} {request.request_id} Task timed out after {request.timeout:.2f} seconds"
        payload = json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}).encode()
        return payload, "Unhandled", message + "\n"
    if document is not None and document.get("ok"):
        return str(document["payload"]).encode("utf-8"), None, ""
    if document is not None:
        return json.dumps(document["error"]).encode("utf-8"), "Unhandled", ""
    code = returncode
    reason = (
        f"signal: {signal.Signals(-code).name.lower()[3:]}" if code and code < 0 else f"exit status {code}"
    )
    message = f"RequestId: {request.request_id} Error: Runtime exited with error: {reason}"
    if code == 0:
        message = f"RequestId: {request.request_id} Error: Runtime exited without providing a reason"
    payload = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
    return payload, "Unhandled", f"{message}\nRuntime.ExitError\n"


def function_log(
    request: InvocationRequest,
    output: bytes,
    extra_log: str,
    *,
    duration_ms: float,
    init_ms: float,
    max_rss_kb: int,
    timed_out: bool,
) -> bytes:
    """The invocation's log as Lambda writes it: ``START``, the output, the runtime's own lines, ``END``
    and ``REPORT``."""
    lines = [f"START RequestId: {request.request_id} Version: {request.version}\n".encode()]
    if output:
        lines.append(output if output.endswith(b"\n") else output + b"\n")
    if extra_log:
        lines.append(extra_log.encode())
    billed = max(1, math.ceil(duration_ms))
    lines.append(f"END RequestId: {request.request_id}\n".encode())
    lines.append(
        (
            f"REPORT RequestId: {request.request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {billed} ms\tMemory Size: {request.memory_size} MB\t"
            f"Max Memory Used: {max(1, round(max_rss_kb / 1024))} MB\tInit Duration: {init_ms:.2f} ms\t"
            + ("Status: timeout\t" if timed_out else "")
            + "\n"
        ).encode()
    )
    return b"".join(lines)
